package storetest

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/store"
)

// filterDocs is the data set the filter cases query.
var filterDocs = []string{
	`{"_id":"d1","n":1,"s":"apple","tags":["red","fruit"],"nested":{"k":1},"flag":true}`,
	`{"_id":"d2","n":2,"s":"Banana","tags":["yellow","fruit"],"nested":{"k":2},"flag":false}`,
	`{"_id":"d3","n":3.5,"s":"cherry","tags":["red"],"nullable":null}`,
	`{"_id":"d4","n":"10","s":"date"}`,
	`{"_id":"d5","s":"elder","nums":[1,5,9]}`,
	`{"_id":"d6","n":-4,"nested":{"k":"x"},"nums":[]}`,
}

var filterTable = []struct{ filter, want string }{
	{`{"n":1}`, "d1"},
	{`{"n":3.5}`, "d3"},
	{`{"n":{"$gt":1}}`, "d2 d3"},
	{`{"n":{"$gte":"1"}}`, "d4"},
	{`{"n":{"$lt":2}}`, "d1 d6"},
	{`{"n":{"$gt":1,"$lt":3}}`, "d2"},
	{`{"n":{"$lte":3.5,"$gte":2}}`, "d2 d3"},
	{`{"n":{"$ne":1}}`, "d2 d3 d4 d5 d6"},
	{`{"n":null}`, "d5"},
	{`{"nullable":null}`, "d1 d2 d3 d4 d5 d6"},
	{`{"nullable":{"$exists":true}}`, "d3"},
	{`{"nullable":{"$ne":null}}`, ""},
	{`{"n":{"$exists":false}}`, "d5"},
	{`{"n":true}`, ""},
	{`{"tags":"red"}`, "d1 d3"},
	{`{"tags":{"$in":["yellow","red"]}}`, "d1 d2 d3"},
	{`{"tags":{"$nin":["red"]}}`, "d2 d4 d5 d6"},
	{`{"nums":5}`, "d5"},
	{`{"nums":{"$gt":8}}`, "d5"},
	{`{"nums":{"$lt":0}}`, ""},
	{`{"nested.k":1}`, "d1"},
	{`{"nested.k":{"$gte":1}}`, "d1 d2"},
	{`{"nested.k":"x"}`, "d6"},
	{`{"s":{"$regex":"^b"}}`, ""},
	{`{"s":{"$regex":"^b","$options":"i"}}`, "d2"},
	{`{"s":{"$regex":"rr"}}`, "d3"},
	{`{"flag":true}`, "d1"},
	{`{"flag":false}`, "d2"},
	{`{"flag":{"$ne":true}}`, "d2 d3 d4 d5 d6"},
	{`{"$or":[{"n":1},{"s":"date"}]}`, "d1 d4"},
	{`{"$and":[{"tags":"fruit"},{"n":{"$gt":1}}]}`, "d2"},
	{`{"n":{"$not":{"$gt":1}}}`, "d1 d4 d5 d6"},
	{`{"n":{"$in":[1,"10",null]}}`, "d1 d4 d5"},
	{`{"n":{"$in":[]}}`, ""},
	{`{"_id":{"$in":["d1","d6"]}}`, "d1 d6"},
	{`{"_id":{"$gt":"d4"}}`, "d5 d6"},
	{`{"$or":[{"tags":"yellow"},{"$and":[{"s":{"$exists":true}},{"n":{"$exists":false}}]}]}`, "d2 d5"},
}

func filterCases() map[string]func(t *testing.T, db store.DB) {
	return map[string]func(t *testing.T, db store.DB){
		"MatchesReference": modelCase,
		"Operators": func(t *testing.T, db store.DB) {
			c := db.Collection("data")
			for _, d := range filterDocs {
				insert(t, c, docf("%s", d))
			}
			for _, tc := range filterTable {
				f, err := store.ParseFilter([]byte(tc.filter))
				if err != nil {
					t.Fatalf("%s: %v", tc.filter, err)
				}
				docs := all(t, c, store.Query{Filter: f})
				got := strings.Join(sortedIDs(docs), " ")
				if got != tc.want {
					t.Errorf("%s: got [%s], want [%s]", tc.filter, got, tc.want)
				}
				n, err := c.Count(ctx(), f)
				must(t, err)
				if int(n) != len(docs) {
					t.Errorf("%s: Count %d, Find %d", tc.filter, n, len(docs))
				}
			}
		},
		"BuiltFilters": func(t *testing.T, db store.DB) {
			c := db.Collection("data")
			for _, d := range filterDocs {
				insert(t, c, docf("%s", d))
			}
			cases := []struct {
				f    store.Filter
				want string
			}{
				{store.And{}, "d1 d2 d3 d4 d5 d6"},
				{store.Or{}, ""},
				{store.Not{Filter: store.Or{Filters: []store.Filter{store.Compare{Path: "n", Op: store.OpEq, Value: int64(1)}, store.Exists{Path: "nums", Exists: true}}}}, "d2 d3 d4"},
				{store.Compare{Path: "_seq", Op: store.OpGt, Value: int64(0)}, "d1 d2 d3 d4 d5 d6"},
			}
			for _, tc := range cases {
				got := strings.Join(sortedIDs(all(t, c, store.Query{Filter: tc.f})), " ")
				if got != tc.want {
					t.Errorf("%#v: got [%s], want [%s]", tc.f, got, tc.want)
				}
			}
			if _, err := c.Find(ctx(), store.Query{Filter: store.Compare{Path: "a", Op: "$where", Value: "1"}}); err == nil {
				t.Error("an unknown operator reached the store")
			}
			if _, err := c.Find(ctx(), store.Query{Filter: store.Regex{Path: "s", Pattern: "("}}); err == nil {
				t.Error("a bad regex reached the store")
			}
		},
	}
}

func sortCases() map[string]func(t *testing.T, db store.DB) {
	seed := func(t *testing.T, c store.Collection) {
		t.Helper()
		rows := []string{
			`{"_id":"a","n":3,"g":"x","o":{"p":2}}`,
			`{"_id":"b","n":1,"g":"y","o":{"p":9}}`,
			`{"_id":"c","g":"x","o":{"p":5}}`,
			`{"_id":"d","n":2,"g":"y"}`,
			`{"_id":"e","n":3,"g":"y","o":{"p":1}}`,
			`{"_id":"f","n":1,"g":"x","o":{"p":7}}`,
		}
		for _, r := range rows {
			insert(t, c, docf("%s", r))
		}
	}
	order := func(t *testing.T, c store.Collection, spec string, limit int) string {
		t.Helper()
		keys, err := store.ParseSort(spec, 3)
		must(t, err)
		return strings.Join(ids(all(t, c, store.Query{Sort: keys, Limit: limit})), "")
	}
	return map[string]func(t *testing.T, db store.DB){
		"Orders": func(t *testing.T, db store.DB) {
			c := db.Collection("sorted")
			seed(t, c)
			cases := []struct{ spec, want string }{
				{"", "abcdef"},
				{"n", "cbfdae"},    // missing first, then by n, ties by _id
				{"-n", "aedbfc"},   // descending, missing last
				{"g,-n", "afcedb"}, // multi-key
				{"o.p", "deacfb"},  // dotted, missing first
				{"-_id", "fedcba"},
				{"-g,_id", "bdeacf"},
			}
			for _, tc := range cases {
				for _, limit := range []int{100, 2, 1} {
					if got := order(t, c, tc.spec, limit); got != tc.want {
						t.Errorf("sort %q limit %d: got %s, want %s", tc.spec, limit, got, tc.want)
					}
				}
			}
		},
		"PagesWithFilter": func(t *testing.T, db store.DB) {
			c := db.Collection("paged")
			for i := 0; i < 57; i++ {
				insert(t, c, store.Doc{"_id": fmt.Sprintf("p%03d", i), "n": i % 7, "even": i%2 == 0})
			}
			f, _ := store.ParseFilter([]byte(`{"even":true}`))
			keys, _ := store.ParseSort("-n", 3)
			whole := all(t, c, store.Query{Filter: f, Sort: keys, Limit: 1000})
			paged := all(t, c, store.Query{Filter: f, Sort: keys, Limit: 4})
			if len(whole) != 29 || !reflect.DeepEqual(ids(whole), ids(paged)) {
				t.Fatalf("paged order differs: %v vs %v", ids(paged), ids(whole))
			}
			if _, err := c.Find(ctx(), store.Query{Sort: keys, Cursor: "garbage!"}); err == nil {
				t.Fatal("a malformed cursor was accepted")
			}
		},
		"StableUnderConcurrentInserts": func(t *testing.T, db store.DB) {
			c := db.Collection("moving")
			for i := 0; i < 40; i++ {
				insert(t, c, store.Doc{"_id": fmt.Sprintf("m%03d", i), "n": i})
			}
			keys, _ := store.ParseSort("n", 3)
			q := store.Query{Sort: keys, Limit: 5}
			seen := map[string]int{}
			extra := 0
			for {
				page, err := c.Find(ctx(), q)
				must(t, err)
				for _, d := range page.Docs {
					seen[store.DocID(d)]++
				}
				// Insert before and after the cursor between pages.
				insert(t, c, store.Doc{"_id": fmt.Sprintf("x%03d", extra), "n": -1 - extra})
				insert(t, c, store.Doc{"_id": fmt.Sprintf("y%03d", extra), "n": 1000 + extra})
				extra++
				if page.Cursor == "" {
					break
				}
				q.Cursor = page.Cursor
			}
			for i := 0; i < 40; i++ {
				id := fmt.Sprintf("m%03d", i)
				if seen[id] != 1 {
					t.Errorf("%s seen %d times", id, seen[id])
				}
			}
			for id, n := range seen {
				if n != 1 {
					t.Errorf("%s seen %d times", id, n)
				}
			}
			for id := range seen {
				if strings.HasPrefix(id, "x") {
					t.Errorf("document %s inserted behind the cursor was returned", id)
				}
			}
		},
	}
}
