package api

import (
	"fmt"
	"net/url"
	"testing"

	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// FuzzObjectListQuery feeds the list query parameters to parseListQuery:
// it must not panic, every refusal must be a 400 problem naming a
// parameter, and every accepted query must hold only filter nodes and
// operators of the allowed set, within the bounds, so that nothing else
// reaches a store.
func FuzzObjectListQuery(f *testing.F) {
	seeds := []struct{ filter, sort, fields, limit, count string }{
		{`{"n": {"$gt": 1}}`, "-n,title", "title,n", "10", "true"},
		{`{"$or": [{"a": 1}, {"b": {"$in": [1, "x", null]}}]}`, "", "", "", ""},
		{`{"a": {"$not": {"$regex": "^x", "$options": "i"}}, "b": {"$exists": false}}`, "_id", "a.b", "1000", "false"},
		{`{"$where": "1"}`, "a,b,c,d", "$x", "0", "maybe"},
		{`{"a": {"$expr": 1}}`, "--a", "a,,b", "-1", "1"},
		{`{"$and": [{"a": {"$nin": [1]}}, {"b": {"$ne": true}}]}`, "a.0", " a , b ", "1e3", ""},
		{`{"a": {"$lte": {"$gt": 1}}}`, "_seq,-_updatedAt", "_id,_v", "99999999999999999999", "TRUE"},
		{`{"a.$b": 1}`, "a,a", "a.", " 5 ", "t"},
		{`[`, ",", ",", "", ""},
		{`{"a": {"$regex": "(?i)x{1000}"}}`, "+a", "\x00", "\u0661", ""},
	}
	for _, s := range seeds {
		f.Add(s.filter, s.sort, s.fields, s.limit, s.count)
	}
	f.Fuzz(func(t *testing.T, filter, sortSpec, fields, limit, count string) {
		v := url.Values{}
		for k, s := range map[string]string{"filter": filter, "sort": sortSpec, "fields": fields, "limit": limit, "count": count} {
			if s != "" {
				v.Set(k, s)
			}
		}
		q, err := parseListQuery(v)
		if err != nil {
			p := problemFor(err)
			if p.Status != 400 || len(p.Errors) == 0 || !listParams[p.Errors[0].Field] {
				t.Fatalf("refusal %v is not a 400 naming a parameter: %+v", err, p)
			}
			return
		}
		if err := store.ValidateFilter(q.Filter); err != nil {
			t.Fatalf("accepted an invalid filter %#v: %v", q.Filter, err)
		}
		if err := allowedFilter(q.Filter, 0); err != nil {
			t.Fatalf("filter %q: %v", filter, err)
		}
		if len(q.Sort) > objectstore.MaxSortKeys || store.ValidateSort(q.Sort) != nil {
			t.Fatalf("accepted sort %v", q.Sort)
		}
		if q.Limit < 1 || q.Limit > maxObjectLimit || len(q.Cursor) > maxCursorLen {
			t.Fatalf("accepted limit %d", q.Limit)
		}
		if len(q.Fields) > objectstore.MaxFields {
			t.Fatalf("accepted %d fields", len(q.Fields))
		}
		for _, p := range q.Fields {
			if store.ValidPath(p) != nil {
				t.Fatalf("accepted field %q", p)
			}
		}
	})
}

// allowedFilter walks a filter AST: only the node types and comparison
// operators of the filter language, on valid paths, within the depth
// bound.
func allowedFilter(f store.Filter, depth int) error {
	if depth > store.MaxFilterDepth+1 {
		return fmt.Errorf("nested %d deep", depth)
	}
	switch x := f.(type) {
	case nil:
		return nil
	case store.Compare:
		switch x.Op {
		case store.OpEq, store.OpNe, store.OpGt, store.OpGte, store.OpLt, store.OpLte:
		default:
			return fmt.Errorf("operator %q", x.Op)
		}
		return store.ValidPath(x.Path)
	case store.In:
		if len(x.Values) > store.MaxInValues {
			return fmt.Errorf("$in with %d values", len(x.Values))
		}
		return store.ValidPath(x.Path)
	case store.Exists:
		return store.ValidPath(x.Path)
	case store.Regex:
		if len(x.Pattern) > store.MaxRegexLen {
			return fmt.Errorf("regex of %d bytes", len(x.Pattern))
		}
		return store.ValidPath(x.Path)
	case store.And:
		for _, s := range x.Filters {
			if err := allowedFilter(s, depth+1); err != nil {
				return err
			}
		}
		return nil
	case store.Or:
		for _, s := range x.Filters {
			if err := allowedFilter(s, depth+1); err != nil {
				return err
			}
		}
		return nil
	case store.Not:
		return allowedFilter(x.Filter, depth+1)
	}
	return fmt.Errorf("node %T", f)
}

// FuzzObjectConditionalHeaders feeds If-Match and If-None-Match values to
// their parsers: no panic; an If-Match either names versions (all
// positive), means "any" (nil), or is refused as a 400 naming the header
// or a 412; If-None-Match never matches a version its tags do not name.
func FuzzObjectConditionalHeaders(f *testing.F) {
	for _, s := range []string{`"1"`, `W/"1"`, `*`, `"1", "2"`, `1`, `""`, `"x"`, `W/`, `"`, `, ,`, `"0"`, `"-3"`, `"99999999999999999999"`, `"1" "2"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		versions, err := ifMatchVersions([]string{h})
		if err != nil {
			p := problemFor(err)
			if !(p.Status == 412 || (p.Status == 400 && len(p.Errors) == 1 && p.Errors[0].Field == "If-Match")) {
				t.Fatalf("If-Match %q: %+v", h, p)
			}
		}
		for _, v := range versions {
			if v <= 0 {
				t.Fatalf("If-Match %q gave version %d", h, v)
			}
		}
		if noneMatch([]string{h}, 7) {
			tags, _ := entityTags([]string{h})
			named := false
			for _, tag := range tags {
				named = named || tag == "*" || tag == `"7"` || tag == `W/"7"`
			}
			if !named {
				t.Fatalf("If-None-Match %q matches version 7", h)
			}
		}
	})
}
