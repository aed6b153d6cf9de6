package objectstore

import (
	"fmt"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/store"
)

func TestLeads(t *testing.T) {
	for _, tt := range []struct {
		have, want []string
		ok         bool
	}{
		{[]string{"n"}, []string{"n"}, true},
		{[]string{"n", "title"}, []string{"n"}, true},
		{[]string{"-n", "-title"}, []string{"n", "title"}, false}, // backwards ends ties on _id descending
		{[]string{"-n"}, []string{"-n"}, true},
		{[]string{"n", "-title"}, []string{"n", "title"}, false},
		{[]string{"title"}, []string{"n"}, false},
		{[]string{"n"}, []string{"n", "title"}, false},
	} {
		if got := leads(tt.have, tt.want); got != tt.ok {
			t.Errorf("leads(%v, %v) = %v", tt.have, tt.want, got)
		}
	}
}

// TestSortIndexCreated: the first list sorted on a field creates an index
// on it (once, whatever the direction), a declared index leading with the
// field is used instead, and a collection gets at most MaxAutoIndexes.
func TestSortIndexCreated(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		mustCreate(t, s, dev, alice, "todos", `{"title":"a","n":1}`)
		db, err := s.db(ctx, dev)
		if err != nil {
			t.Fatal(err)
		}
		autos := func() []string {
			t.Helper()
			idx, err := objects(db, "todos").Indexes(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, i := range idx {
				if strings.HasPrefix(i.Name, autoIndexPrefix) {
					out = append(out, strings.Join(i.Fields, ","))
				}
			}
			return out
		}
		list := func(keys ...store.SortKey) {
			t.Helper()
			if _, err := s.List(ctx, dev, alice, "todos", ListQuery{Sort: keys}); err != nil {
				t.Fatal(err)
			}
		}
		list(store.SortKey{Path: "n", Desc: true})
		list(store.SortKey{Path: "n", Desc: true})
		list(store.SortKey{Path: "n"})
		if got := autos(); fmt.Sprint(got) != "[-n n]" {
			t.Fatalf("auto indexes %v, want [-n n]", got)
		}
		if _, err := s.PutSettings(ctx, dev, "todos", SettingsPatch{Indexes: &[]store.Index{{Fields: []string{"title", "n"}}}}); err != nil {
			t.Fatal(err)
		}
		list(store.SortKey{Path: "title"})
		if got := autos(); len(got) != 2 {
			t.Fatalf("a declared index leading with title was not used: %v", got)
		}
		for i := range MaxAutoIndexes + 3 {
			list(store.SortKey{Path: fmt.Sprintf("f%d", i)})
		}
		if got := autos(); len(got) != MaxAutoIndexes {
			t.Fatalf("%d auto indexes, want the cap %d", len(got), MaxAutoIndexes)
		}
	})
}
