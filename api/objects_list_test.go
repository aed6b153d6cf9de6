package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
)

// listPage mirrors a list answer.
type listPage struct {
	Items  []map[string]any `json:"items"`
	Cursor *string          `json:"cursor"`
	Count  *int64           `json:"count"`
}

func (o *objEnv) list(t *testing.T, c caller, path string) listPage {
	t.Helper()
	r := o.call(t, c, "GET", path, nil).want(t, 200)
	var p listPage
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("list %s: %v", r.body, err)
	}
	if p.Items == nil || !bytes.Contains(r.body, []byte(`"cursor":`)) {
		t.Fatalf("list answer lacks items or cursor: %s", r.body)
	}
	return p
}

func testObjectList(t *testing.T, o *objEnv) {
	ada, bob := o.user("dev", "ada"), o.user("dev", "bob")
	col := "things"
	for i := range 30 {
		o.call(t, ada, "POST", objectsPath(col), map[string]any{
			"_id": fmt.Sprintf("t%02d", i), "n": i, "title": fmt.Sprintf("title %d", i%3), "meta": map[string]any{"odd": i%2 == 1, "x": i},
		}).want(t, 201)
	}
	o.call(t, bob, "POST", objectsPath(col), map[string]any{"n": 15, "title": "bob's"}).want(t, 201)

	// filter + sort + count.
	p := o.list(t, ada, listQuery(col, "filter", `{"n": {"$gte": 10, "$lt": 20}}`, "sort", "-n", "count", "true"))
	if len(p.Items) != 10 || p.Count == nil || *p.Count != 10 || p.Cursor != nil {
		t.Fatalf("filtered page: %d items, count %v, cursor %v", len(p.Items), p.Count, p.Cursor)
	}
	for i, it := range p.Items {
		if num(t, it["n"]) != int64(19-i) || it["_owner"] != ada.id {
			t.Fatalf("item %d = %v", i, it)
		}
	}
	// Sort on several keys, with the system fields and nested paths.
	p = o.list(t, ada, listQuery(col, "filter", `{"$or": [{"title": "title 1"}, {"meta.x": {"$in": [0, 2]}}], "meta.odd": {"$ne": true}}`, "sort", "title,-n"))
	var got []string
	for _, it := range p.Items {
		got = append(got, it["_id"].(string))
	}
	if want := "t00,t28,t22,t16,t10,t04,t02"; strings.Join(got, ",") != want {
		t.Fatalf("or/ne/in sorted: %v, want %s", got, want)
	}
	p = o.list(t, ada, listQuery(col, "filter", `{"title": {"$regex": "^TITLE 2$", "$options": "i"}, "n": {"$not": {"$gt": 10}}}`))
	if len(p.Items) != 3 {
		t.Fatalf("regex/not: %d items", len(p.Items))
	}
	p = o.list(t, ada, listQuery(col, "filter", `{"missing": {"$exists": false}, "n": {"$nin": [1, 2, 3]}}`, "count", "true", "limit", "1"))
	if len(p.Items) != 1 || *p.Count != 27 || p.Cursor == nil {
		t.Fatalf("exists/nin: %d items, count %d", len(p.Items), *p.Count)
	}

	// fields projects; _id always comes back.
	p = o.list(t, ada, listQuery(col, "fields", "n, meta.odd", "sort", "n", "limit", "2"))
	if len(p.Items) != 2 {
		t.Fatalf("fields: %v", p.Items)
	}
	for _, it := range p.Items {
		meta, _ := it["meta"].(map[string]any)
		if len(it) != 3 || it["_id"] == nil || it["n"] == nil || len(meta) != 1 || meta["odd"] == nil {
			t.Fatalf("projected item %v", it)
		}
	}

	// Pages: limit and cursor walk every object once, in order.
	var seen []int64
	path := listQuery(col, "sort", "n", "limit", "7", "count", "true")
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("pagination does not end")
		}
		p = o.list(t, ada, path)
		if *p.Count != 30 || len(p.Items) > 7 {
			t.Fatalf("page: %d items, count %d", len(p.Items), *p.Count)
		}
		for _, it := range p.Items {
			seen = append(seen, num(t, it["n"]))
		}
		if p.Cursor == nil {
			break
		}
		path = listQuery(col, "sort", "n", "limit", "7", "count", "true", "cursor", *p.Cursor)
	}
	if len(seen) != 30 || !sort.SliceIsSorted(seen, func(i, j int) bool { return seen[i] < seen[j] }) {
		t.Fatalf("pages gave %v", seen)
	}
	// A collection that does not exist lists empty.
	if p := o.list(t, ada, listQuery("no-such", "count", "true")); len(p.Items) != 0 || *p.Count != 0 || p.Cursor != nil {
		t.Fatalf("missing collection: %+v", p)
	}
}

func testObjectListErrors(t *testing.T, o *objEnv) {
	ada := o.user("dev", "ada")
	col := "listerr"
	o.call(t, ada, "POST", objectsPath(col), map[string]any{"n": 1}).want(t, 201)
	for _, c := range []struct {
		kv       []string
		field    string
		mentions string
	}{
		{[]string{"filter", `{"$where": "this.n > 1"}`}, "filter", "$where"},
		{[]string{"filter", `{"n": {"$function": {}}}`}, "filter", "$function"},
		{[]string{"filter", `{"$expr": {"$gt": ["$n", 1]}}`}, "filter", "$expr"},
		{[]string{"filter", `{"n": {"$elemMatch": {"a": 1}}}`}, "filter", "$elemMatch"},
		{[]string{"filter", `{"n": {"$gt": {"a": 1}}}`}, "filter", "$gt"},
		{[]string{"filter", `{"title": {"$regex": "("}}`}, "filter", "$regex"},
		{[]string{"filter", `{"title": {"$regex": "` + strings.Repeat("a", 300) + `"}}`}, "filter", "$regex"},
		{[]string{"filter", `{"n": `}, "filter", ""},
		{[]string{"filter", `[1]`}, "filter", ""},
		{[]string{"filter", strings.Repeat(`{"$and": [`, 20) + `{}` + strings.Repeat(`]}`, 20)}, "filter", ""},
		{[]string{"sort", "a,b,c,d"}, "sort", ""},
		{[]string{"sort", "$n"}, "sort", ""},
		{[]string{"sort", "n,-n"}, "sort", ""},
		{[]string{"limit", "0"}, "limit", ""},
		{[]string{"limit", "1001"}, "limit", ""},
		{[]string{"limit", "ten"}, "limit", ""},
		{[]string{"count", "maybe"}, "count", ""},
		{[]string{"fields", "a,,b"}, "fields", ""},
		{[]string{"fields", "$a"}, "fields", ""},
		{[]string{"cursor", "not-a-cursor"}, "cursor", ""},
		{[]string{"cursor", strings.Repeat("c", maxCursorLen+1)}, "cursor", ""},
		{[]string{"filters", `{}`}, "filters", ""},
	} {
		p := o.call(t, ada, "GET", listQuery(col, c.kv...), nil).problem(t, 400, c.field)
		if !strings.Contains(p.Detail, c.mentions) {
			t.Errorf("%v: detail %q does not mention %q", c.kv, p.Detail, c.mentions)
		}
	}
	o.call(t, ada, "GET", objectsPath(col)+"?limit=1&limit=2", nil).problem(t, 400, "limit")
}

// testObjectPaginationUnderInserts pages through a collection while
// another goroutine inserts into it: every object that existed before the
// first page is seen exactly once, under the default order and a sort on
// a field.
func testObjectPaginationUnderInserts(t *testing.T, o *objEnv) {
	ada := o.user("dev", "ada")
	appKey, _ := o.app.keys(t, "dev")
	col := "busy"
	before := map[string]bool{}
	for i := range 60 {
		obj := o.call(t, ada, "POST", objectsPath(col), map[string]any{"n": i * 2}).want(t, 201).object(t)
		before[obj["_id"].(string)] = true
	}
	// The inserter stops after maxInserts, so that paging ends even when
	// it outruns the reader in the direction of the sort.
	const maxInserts = 60
	for _, sortSpec := range []string{"", "n", "-n"} {
		t.Run("sort="+sortSpec, func(t *testing.T) {
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var insertErr error
			inserted := 0
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range maxInserts {
					select {
					case <-stop:
						return
					default:
					}
					// Odd values land between the existing ones in every
					// order.
					status, body, err := o.rawPost(appKey, ada.token, objectsPath(col), fmt.Sprintf(`{"n": %d}`, (i%60)*2+1))
					if err != nil || status != http.StatusCreated {
						insertErr = fmt.Errorf("insert: %d %s %v", status, body, err)
						return
					}
					inserted++
				}
			}()
			seen := map[string]int{}
			kv := []string{"limit", "10"}
			if sortSpec != "" {
				kv = append(kv, "sort", sortSpec)
			}
			path := listQuery(col, kv...)
			for pages := 0; ; pages++ {
				if pages > 100 {
					t.Error("pagination does not end")
					break
				}
				p := o.list(t, ada, path)
				for _, it := range p.Items {
					seen[it["_id"].(string)]++
				}
				if p.Cursor == nil {
					break
				}
				path = listQuery(col, append(kv, "cursor", *p.Cursor)...)
			}
			close(stop)
			wg.Wait()
			if insertErr != nil {
				t.Fatal(insertErr)
			}
			for id := range before {
				if seen[id] != 1 {
					t.Errorf("object %s seen %d times", id, seen[id])
				}
			}
			for id, n := range seen {
				if n != 1 {
					t.Errorf("object %s seen %d times", id, n)
				}
			}
			t.Logf("%d inserted while paging; %d seen", inserted, len(seen))
		})
	}
}

// rawPost creates an object without touching t, for other goroutines.
func (o *objEnv) rawPost(appKey, token, path, body string) (int, []byte, error) {
	r, err := o.rawDo(appKey, token, "POST", path, body)
	return r.status, r.body, err
}

// rawDo sends a request without touching t, for other goroutines; kv are
// extra header name/value pairs.
func (o *objEnv) rawDo(appKey, token, method, path, body string, kv ...string) (objResp, error) {
	req, err := http.NewRequest(method, o.srv.URL+path, strings.NewReader(body))
	if err != nil {
		return objResp{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(AppKeyHeader, appKey)
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	resp, err := o.srv.Client().Do(req)
	if err != nil {
		return objResp{}, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return objResp{status: resp.StatusCode, header: resp.Header, body: data}, err
}
