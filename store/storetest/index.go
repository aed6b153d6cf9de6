package storetest

import (
	"testing"

	"github.com/skybridgehq/skybridge/store"
)

func indexCases() map[string]func(t *testing.T, db store.DB) {
	return map[string]func(t *testing.T, db store.DB){
		"UniqueSingle": func(t *testing.T, db store.DB) {
			c := db.Collection("users")
			must(t, c.EnsureIndex(ctx(), store.Index{Fields: []string{"email"}, Unique: true}))
			must(t, c.EnsureIndex(ctx(), store.Index{Fields: []string{"email"}, Unique: true})) // idempotent
			insert(t, c, store.Doc{"_id": "u1", "email": "a@x"})
			insert(t, c, store.Doc{"_id": "u2", "email": "b@x"})
			_, err := c.Insert(ctx(), store.Doc{"_id": "u3", "email": "a@x"})
			wantErr(t, err, store.ErrDuplicate, "insert breaking a unique index")
			if _, err := c.Get(ctx(), "u3"); err == nil {
				t.Fatal("refused insert was stored")
			}
			_, err = c.Replace(ctx(), "u2", 0, store.Doc{"email": "a@x"})
			wantErr(t, err, store.ErrDuplicate, "replace breaking a unique index")
			_, err = c.Update(ctx(), "u2", 0, store.Update{Set: map[string]any{"email": "a@x"}})
			wantErr(t, err, store.ErrDuplicate, "update breaking a unique index")
			got, _ := c.Get(ctx(), "u2")
			if got["email"] != "b@x" || store.DocVersion(got) != 1 {
				t.Fatalf("refused writes changed the document: %v", got)
			}
			// Documents lacking the field are exempt.
			insert(t, c, store.Doc{"_id": "n1", "name": "x"})
			insert(t, c, store.Doc{"_id": "n2", "name": "y"})
			// A freed value can be taken again.
			must(t, c.Delete(ctx(), "u1", 0))
			insert(t, c, store.Doc{"_id": "u4", "email": "a@x"})
		},
		"UniqueCompound": func(t *testing.T, db store.DB) {
			c := db.Collection("members")
			must(t, c.EnsureIndex(ctx(), store.Index{Name: "team_user", Fields: []string{"team", "user.id"}, Unique: true}))
			insert(t, c, store.Doc{"team": "t1", "user": map[string]any{"id": "a"}})
			insert(t, c, store.Doc{"team": "t1", "user": map[string]any{"id": "b"}})
			insert(t, c, store.Doc{"team": "t2", "user": map[string]any{"id": "a"}})
			_, err := c.Insert(ctx(), store.Doc{"team": "t1", "user": map[string]any{"id": "a"}})
			wantErr(t, err, store.ErrDuplicate, "compound duplicate")
		},
		"UniqueOverExistingDuplicates": func(t *testing.T, db store.DB) {
			c := db.Collection("dups")
			insert(t, c, store.Doc{"k": 1})
			insert(t, c, store.Doc{"k": 1})
			wantErr(t, c.EnsureIndex(ctx(), store.Index{Fields: []string{"k"}, Unique: true}), store.ErrDuplicate, "unique index over duplicates")
			idx, err := c.Indexes(ctx())
			must(t, err)
			if len(idx) != 0 {
				t.Fatalf("a failed index was recorded: %v", idx)
			}
		},
		"ListAndQuery": func(t *testing.T, db store.DB) {
			c := db.Collection("listed")
			insert(t, c, store.Doc{"a": 1, "b": "x"})
			must(t, c.EnsureIndex(ctx(), store.Index{Fields: []string{"b", "-a"}}))
			must(t, c.EnsureIndex(ctx(), store.Index{Name: "by_a", Fields: []string{"a"}, Unique: true}))
			idx, err := c.Indexes(ctx())
			must(t, err)
			if len(idx) != 2 || idx[0].IndexName() != "by_a" || !idx[0].Unique || idx[1].Fields[1] != "-a" {
				t.Fatalf("indexes %+v", idx)
			}
			wantErr(t, c.EnsureIndex(ctx(), store.Index{Name: "by_a", Fields: []string{"b"}}), store.ErrInvalid, "same name, other definition")
			wantErr(t, c.EnsureIndex(ctx(), store.Index{Fields: []string{"$x"}}), store.ErrInvalid, "bad field")
			f, _ := store.ParseFilter([]byte(`{"b":"x","a":{"$gte":1}}`))
			if n, err := c.Count(ctx(), f); err != nil || n != 1 {
				t.Fatalf("query over indexed fields: %d %v", n, err)
			}
		},
	}
}
