package cachetest

import (
	"context"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/cache"
)

// leases checks cache.Leaser: a leased set stores while no invalidation
// of its key or of one of its tags ran since the lease, and not after.
func leases(t *testing.T, c cache.Cache) {
	ctx := context.Background()
	l, ok := c.(cache.Leaser)
	if !ok {
		t.Fatalf("%T is not a cache.Leaser", c)
	}
	tag := ns.Tag("lease")
	tests := []struct {
		name       string
		invalidate func(key string) error // nil: none
		stored     bool
	}{
		{"untouched", nil, true},
		{"deleted", func(key string) error { return c.Delete(ctx, key) }, false},
		{"tag invalidated", func(string) error { return c.InvalidateTags(ctx, tag) }, false},
		{"namespace invalidated", func(string) error { return c.InvalidateTags(ctx, ns.All()) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := ns.Key("leased", tc.name)
			lease, err := l.Lease(ctx, key, time.Minute, tag, ns.All())
			if err != nil {
				t.Fatalf("lease: %v", err)
			}
			if tc.invalidate != nil {
				if err := tc.invalidate(key); err != nil {
					t.Fatalf("invalidate: %v", err)
				}
			}
			stored, err := l.SetLeased(ctx, lease, key, []byte("v"), time.Minute, tag, ns.All())
			if err != nil {
				t.Fatalf("leased set: %v", err)
			}
			v, found := mustGet(t, c, key)
			if stored != tc.stored || found != tc.stored {
				t.Fatalf("stored=%v, found=%v (%q); want %v", stored, found, v, tc.stored)
			}
			if tc.stored {
				// The entry carries its tags like any other.
				if err := c.InvalidateTags(ctx, tag); err != nil {
					t.Fatal(err)
				}
				if _, ok := mustGet(t, c, key); ok {
					t.Fatal("leased entry survived its tag")
				}
			}
		})
	}
	t.Run("zero lease", func(t *testing.T) {
		key := ns.Key("leased", "zero")
		if stored, err := l.SetLeased(ctx, cache.Lease{}, key, []byte("v"), time.Minute); err != nil || stored {
			t.Fatalf("zero lease stored=%v err=%v", stored, err)
		}
		if _, ok := mustGet(t, c, key); ok {
			t.Fatal("zero lease stored a value")
		}
	})
	t.Run("spent", func(t *testing.T) {
		// A lease voided by a deletion after it stored does not store
		// again.
		key := ns.Key("leased", "spent")
		lease, err := l.Lease(ctx, key, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if stored, err := l.SetLeased(ctx, lease, key, []byte("v"), time.Minute); err != nil || !stored {
			t.Fatalf("first set stored=%v err=%v", stored, err)
		}
		if err := c.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		if stored, _ := l.SetLeased(ctx, lease, key, []byte("v"), time.Minute); stored {
			t.Fatal("a lease voided by a deletion stored again")
		}
	})
}
