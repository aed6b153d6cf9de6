package auth

import (
	"fmt"
	"testing"
	"time"
)

func TestKeyCache(t *testing.T) {
	t.Parallel()
	now := time.Unix(1000, 0)
	later := now.Add(time.Minute)

	t.Run("bounded, least recently used goes first", func(t *testing.T) {
		t.Parallel()
		c := newKeyCache[int](3)
		for i := range 3 {
			c.put(fmt.Sprint(i), "env", i, later, c.generation())
		}
		if _, ok := c.get("0", now); !ok { // 0 is now the most recent
			t.Fatal("entry 0 missing")
		}
		c.put("3", "env", 3, later, c.generation()) // evicts 1
		if c.len() != 3 {
			t.Fatalf("len %d, want 3", c.len())
		}
		for key, want := range map[string]bool{"0": true, "1": false, "2": true, "3": true} {
			if _, ok := c.get(key, now); ok != want {
				t.Errorf("get(%s) ok=%v, want %v", key, ok, want)
			}
		}
		for i := range 100 {
			c.put(fmt.Sprint("x", i), "env", i, later, c.generation())
		}
		if c.len() != 3 {
			t.Fatalf("len %d after 100 puts, want 3", c.len())
		}
	})

	t.Run("expiry", func(t *testing.T) {
		t.Parallel()
		c := newKeyCache[string](10)
		c.put("k", "env", "v", later, c.generation())
		if v, ok := c.get("k", later.Add(-time.Nanosecond)); !ok || v != "v" {
			t.Fatalf("get before expiry = %q, %v", v, ok)
		}
		if _, ok := c.get("k", later); ok {
			t.Fatal("entry served at its expiry")
		}
		if c.len() != 0 {
			t.Fatal("expired entry kept")
		}
	})

	t.Run("replace updates in place", func(t *testing.T) {
		t.Parallel()
		c := newKeyCache[string](10)
		c.put("k", "env", "a", later, c.generation())
		c.put("k", "env", "b", later, c.generation())
		if v, ok := c.get("k", now); !ok || v != "b" || c.len() != 1 {
			t.Fatalf("get = %q, %v, len %d", v, ok, c.len())
		}
	})

	t.Run("invalidate drops one environment only", func(t *testing.T) {
		t.Parallel()
		c := newKeyCache[int](10)
		c.put("a1", "a", 1, later, c.generation())
		c.put("a2", "a", 2, later, c.generation())
		c.put("b1", "b", 3, later, c.generation())
		c.invalidateEnv("a")
		for key, want := range map[string]bool{"a1": false, "a2": false, "b1": true} {
			if _, ok := c.get(key, now); ok != want {
				t.Errorf("get(%s) ok=%v, want %v", key, ok, want)
			}
		}
	})

	t.Run("lookup racing an invalidation is not cached", func(t *testing.T) {
		t.Parallel()
		c := newKeyCache[int](10)
		gen := c.generation() // a lookup starts
		c.invalidateEnv("a")  // a rotation lands meanwhile
		c.put("a1", "a", 1, later, gen)
		if _, ok := c.get("a1", now); ok {
			t.Fatal("stale lookup was cached after an invalidation")
		}
		c.put("a1", "a", 1, later, c.generation())
		if _, ok := c.get("a1", now); !ok {
			t.Fatal("fresh lookup not cached")
		}
	})
}
