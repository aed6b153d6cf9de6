package storetest

import (
	"errors"
	"testing"

	"github.com/skybridgehq/skybridge/store"
)

func crudCases() map[string]func(t *testing.T, db store.DB) {
	return map[string]func(t *testing.T, db store.DB){
		"InsertStampsSystemFields": func(t *testing.T, db store.DB) {
			c := db.Collection("items")
			d := insert(t, c, store.Doc{"title": "a", "n": 1.0, "nested": map[string]any{"x": []any{1, "y", nil, true}}, "_v": 99, "_seq": 99})
			id := store.DocID(d)
			if len(id) < 16 {
				t.Fatalf("generated _id %q", id)
			}
			if store.DocVersion(d) != 1 || store.DocSeq(d) < 1 {
				t.Fatalf("system fields not stamped: %v", d)
			}
			if d[store.FieldCreatedAt] == nil || d[store.FieldCreatedAt] != d[store.FieldUpdatedAt] {
				t.Fatalf("timestamps: %v", d)
			}
			got, err := c.Get(ctx(), id)
			must(t, err)
			if !jsonEq(got, d) {
				t.Fatalf("Get differs from Insert's answer:\n%v\n%v", got, d)
			}
			if n, ok := got["n"].(int64); !ok || n != 1 {
				t.Fatalf("integral number not normalized to int64: %#v", got["n"])
			}
		},
		"InsertWithIDAndDuplicate": func(t *testing.T, db store.DB) {
			c := db.Collection("items")
			d := insert(t, c, store.Doc{"_id": "custom-1", "a": 1})
			if store.DocID(d) != "custom-1" {
				t.Fatalf("client _id lost: %v", d)
			}
			_, err := c.Insert(ctx(), store.Doc{"_id": "custom-1", "a": 2})
			wantErr(t, err, store.ErrDuplicate, "second insert with the same _id")
			got, _ := c.Get(ctx(), "custom-1")
			if got["a"] != int64(1) {
				t.Fatalf("duplicate insert changed the document: %v", got)
			}
			_, err = c.Insert(ctx(), store.Doc{"_id": 5})
			wantErr(t, err, store.ErrInvalid, "non-string _id")
			_, err = c.Insert(ctx(), store.Doc{"a.b": 5})
			wantErr(t, err, store.ErrInvalid, "dotted field name")
			_, err = c.Insert(ctx(), store.Doc{"$set": 5})
			wantErr(t, err, store.ErrInvalid, "$ field name")
		},
		"InsertManyStoresAPrefix": func(t *testing.T, db store.DB) {
			c := db.Collection("batch")
			got, err := c.InsertMany(ctx(), []store.Doc{{"_id": "m1", "k": 1}, {"k": 2}, {"_id": "m3", "k": 3}})
			must(t, err)
			if len(got) != 3 || store.DocID(got[0]) != "m1" || store.DocID(got[1]) == "" {
				t.Fatalf("InsertMany answer %v", got)
			}
			for i := 1; i < len(got); i++ {
				if store.DocSeq(got[i]) <= store.DocSeq(got[i-1]) || store.DocVersion(got[i]) != 1 {
					t.Fatalf("InsertMany _seq not increasing in order: %v", got)
				}
			}
			for _, d := range got {
				stored, err := c.Get(ctx(), store.DocID(d))
				must(t, err)
				if !jsonEq(stored, d) {
					t.Fatalf("stored %v, answered %v", stored, d)
				}
			}
			// m1 again in second place: whatever is stored is a prefix of
			// the batch, and exactly what was returned.
			got, err = c.InsertMany(ctx(), []store.Doc{{"_id": "n1"}, {"_id": "m1"}, {"_id": "n3"}})
			wantErr(t, err, store.ErrDuplicate, "InsertMany with a taken _id")
			if len(got) > 1 {
				t.Fatalf("returned past the failure: %v", got)
			}
			_, errN1 := c.Get(ctx(), "n1")
			if (len(got) == 1) != (errN1 == nil) {
				t.Fatalf("returned %d documents but n1 stored: %v", len(got), errN1 == nil)
			}
			if _, err := c.Get(ctx(), "n3"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a document after the failure was stored: %v", err)
			}
			if got, err := c.InsertMany(ctx(), nil); err != nil || len(got) != 0 {
				t.Fatalf("empty InsertMany: %v %v", got, err)
			}
		},
		"GetMissing": func(t *testing.T, db store.DB) {
			_, err := db.Collection("never").Get(ctx(), "nope")
			wantErr(t, err, store.ErrNotFound, "get in a collection never written")
			c := db.Collection("items")
			insert(t, c, store.Doc{"a": 1})
			_, err = c.Get(ctx(), "nope")
			wantErr(t, err, store.ErrNotFound, "get of a missing id")
		},
		"ReplaceCAS": func(t *testing.T, db store.DB) {
			c := db.Collection("items")
			d := insert(t, c, store.Doc{"_id": "r", "a": 1, "b": 2})
			r, err := c.Replace(ctx(), "r", 1, store.Doc{"a": 10, "_id": "ignored", "_createdAt": "ignored"})
			must(t, err)
			if store.DocID(r) != "r" || store.DocVersion(r) != 2 || store.DocSeq(r) <= store.DocSeq(d) || r["b"] != nil || r["a"] != int64(10) {
				t.Fatalf("replace result %v", r)
			}
			if r[store.FieldCreatedAt] != d[store.FieldCreatedAt] {
				t.Fatalf("_createdAt changed: %v → %v", d[store.FieldCreatedAt], r[store.FieldCreatedAt])
			}
			_, err = c.Replace(ctx(), "r", 1, store.Doc{"a": 11})
			wantErr(t, err, store.ErrVersionConflict, "replace at a stale version")
			got, _ := c.Get(ctx(), "r")
			if !jsonEq(got, r) {
				t.Fatalf("failed replace changed the document: %v", got)
			}
			r3, err := c.Replace(ctx(), "r", 0, store.Doc{"a": 12})
			must(t, err)
			if store.DocVersion(r3) != 3 {
				t.Fatalf("unconditional replace: %v", r3)
			}
			_, err = c.Replace(ctx(), "missing", 0, store.Doc{"a": 1})
			wantErr(t, err, store.ErrNotFound, "replace of a missing document")
			_, err = c.Replace(ctx(), "missing", 3, store.Doc{"a": 1})
			wantErr(t, err, store.ErrNotFound, "versioned replace of a missing document")
		},
		"Delete": func(t *testing.T, db store.DB) {
			c := db.Collection("items")
			insert(t, c, store.Doc{"_id": "d", "a": 1})
			wantErr(t, c.Delete(ctx(), "d", 7), store.ErrVersionConflict, "delete at a wrong version")
			must(t, c.Delete(ctx(), "d", 1))
			_, err := c.Get(ctx(), "d")
			wantErr(t, err, store.ErrNotFound, "get after delete")
			wantErr(t, c.Delete(ctx(), "d", 0), store.ErrNotFound, "second delete")
			// The id is free again.
			insert(t, c, store.Doc{"_id": "d", "a": 2})
		},
		"Count": func(t *testing.T, db store.DB) {
			c := db.Collection("items")
			for i := 0; i < 7; i++ {
				insert(t, c, store.Doc{"n": i})
			}
			n, err := c.Count(ctx(), nil)
			must(t, err)
			if n != 7 {
				t.Fatalf("count %d", n)
			}
			n, err = c.Count(ctx(), store.Compare{Path: "n", Op: store.OpGte, Value: int64(4)})
			must(t, err)
			if n != 3 {
				t.Fatalf("filtered count %d", n)
			}
			_, err = c.Count(ctx(), store.Compare{Path: "$bad", Op: store.OpEq, Value: int64(1)})
			if !errors.Is(err, store.ErrInvalid) {
				t.Fatalf("invalid filter: %v", err)
			}
		},
	}
}

func updateCases() map[string]func(t *testing.T, db store.DB) {
	return map[string]func(t *testing.T, db store.DB){
		"SetAndInc": func(t *testing.T, db store.DB) {
			c := db.Collection("items")
			insert(t, c, store.Doc{"_id": "u", "n": 1, "f": 1.5, "keep": "me"})
			u, err := c.Update(ctx(), "u", 1, store.Update{
				Set: map[string]any{"a.b.c": "deep", "title": "t"},
				Inc: map[string]float64{"n": 2, "f": 1, "fresh": 5, "m.count": 1},
			})
			must(t, err)
			want := docf(`{"n":3,"f":2.5,"keep":"me","a":{"b":{"c":"deep"}},"title":"t","fresh":5,"m":{"count":1}}`)
			for k, v := range want {
				if !jsonEq(u[k], v) {
					t.Errorf("%s = %v, want %v", k, u[k], v)
				}
			}
			if store.DocVersion(u) != 2 {
				t.Fatalf("_v %d", store.DocVersion(u))
			}
			got, _ := c.Get(ctx(), "u")
			if !jsonEq(got, u) {
				t.Fatalf("stored differs from answer:\n%v\n%v", got, u)
			}
			_, err = c.Update(ctx(), "u", 1, store.Update{Set: map[string]any{"x": 1}})
			wantErr(t, err, store.ErrVersionConflict, "stale update")
			_, err = c.Update(ctx(), "missing", 0, store.Update{Set: map[string]any{"x": 1}})
			wantErr(t, err, store.ErrNotFound, "update of a missing document")
			_, err = c.Update(ctx(), "u", 0, store.Update{Inc: map[string]float64{"keep": 1}})
			wantErr(t, err, store.ErrInvalid, "increment of a string")
			_, err = c.Update(ctx(), "u", 0, store.Update{Set: map[string]any{"_v": 1}})
			wantErr(t, err, store.ErrInvalid, "set of a system field")
		},
	}
}
