package sqlite

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/store"
	"github.com/skybridgehq/skybridge/store/storetest"
)

// modelCollection holds storetest.ModelDocs, once per fuzz target.
func modelCollection(f *testing.F) (store.Collection, []store.Doc) {
	p, err := Open(Options{Dir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { p.Close() })
	db, err := p.DB(f.Context(), "model")
	if err != nil {
		f.Fatal(err)
	}
	c := db.Collection("m")
	docs := storetest.ModelDocs()
	for _, d := range docs {
		if _, err := c.Insert(f.Context(), d); err != nil {
			f.Fatal(err)
		}
	}
	return c, docs
}

// FuzzFilterMatchesReference: any filter that parses compiles, runs, and
// selects exactly what the reference semantics (storetest.Matches) select.
func FuzzFilterMatchesReference(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"n":1}`, `{"n":null}`, `{"t":"x"}`, `{"t":{"$ne":null}}`, `{"n":{"$gt":1}}`,
		`{"s":{"$lt":"b"}}`, `{"o.k":{"$in":[1,"a",null,true]}}`, `{"t":{"$nin":["x",1]}}`,
		`{"o.m.z":{"$exists":false}}`, `{"s":{"$regex":"^a","$options":"i"}}`, `{"t":{"$regex":"x"}}`,
		`{"$or":[{"b":true},{"n":{"$not":{"$gte":2}}}]}`, `{"$and":[{"o":{"$exists":true}},{"o.k":{"$lte":"apple"}}]}`,
		`{"b":{"$in":[false,0]}}`, `{"n":2.5}`, `{"n":"1"}`, `{"o":5}`, `{"missing":null}`,
	} {
		f.Add([]byte(s))
	}
	c, docs := modelCollection(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		flt, err := store.ParseFilter(data)
		if err != nil {
			return
		}
		if msg := storetest.CheckAgainstModel(t, c, docs, flt); msg != "" {
			t.Fatalf("filter %s: %s", data, msg)
		}
	})
}

// FuzzRandomFilter explores the filter space through storetest.RandomFilter
// seeds, which reach nestings the JSON fuzzer rarely builds.
func FuzzRandomFilter(f *testing.F) {
	for seed := uint64(0); seed < 16; seed++ {
		f.Add(seed)
	}
	c, docs := modelCollection(f)
	f.Fuzz(func(t *testing.T, seed uint64) {
		flt := storetest.RandomFilter(rand.New(rand.NewPCG(seed, seed>>32)), 4)
		if msg := storetest.CheckAgainstModel(t, c, docs, flt); msg != "" {
			t.Fatal(msg)
		}
	})
}

// A filter on a declared index's path is answered through the index; the
// array-element branch appears only for paths that ever held an array.
func TestFiltersUseExpressionIndexes(t *testing.T) {
	t.Parallel()
	_, db := openTest(t)
	c := db.Collection("ix").(*Collection)
	for _, idx := range []store.Index{{Fields: []string{"cat", "-n"}}, {Fields: []string{"email"}, Unique: true}, {Fields: []string{"tags"}}} {
		if err := c.EnsureIndex(t.Context(), idx); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Insert(t.Context(), store.Doc{"cat": "a", "n": 1, "email": "a@x", "tags": []any{"x"}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		filter, sort, plan string
	}{
		{`{"email":"a@x"}`, "", "USING INDEX"},
		{`{"cat":"a","n":{"$gte":1}}`, "-n", "USING INDEX"},
		{`{"n":{"$in":[1,2]},"cat":"a"}`, "", "USING INDEX"},
		{`{"tags":"x"}`, "", "json_each"}, // arrays stored there: element branch, a scan
	} {
		flt, err := store.ParseFilter([]byte(tc.filter))
		if err != nil {
			t.Fatal(err)
		}
		keys, _ := store.ParseSort(tc.sort, 3)
		where, args, err := compileFilter(c.db.mayHoldArray(c.name), flt)
		if err != nil {
			t.Fatal(err)
		}
		if tc.plan == "json_each" {
			if !strings.Contains(where, "json_each") {
				t.Errorf("%s: no element branch in %s", tc.filter, where)
			}
			continue
		}
		rows, err := c.db.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN SELECT doc FROM "+c.table+" WHERE "+where+" ORDER BY "+orderBy(keys), args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if got := strings.Join(plan, "; "); !strings.Contains(got, tc.plan) || strings.Contains(got, "SCAN") {
			t.Errorf("%s sorted %q: plan %q, want %s and no scan", tc.filter, tc.sort, got, tc.plan)
		}
	}
}
