package storetest

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/store"
)

// ModelDocs returns a fixed data set that exercises the filter semantics:
// missing fields and nulls, numbers of both kinds, strings, booleans,
// arrays of scalars (never arrays of objects, which MongoDB would walk)
// and nested objects, all mixed on the same paths. The ids are "m00" up.
func ModelDocs() []store.Doc {
	r := rand.New(rand.NewPCG(42, 7))
	scalars := []any{nil, true, false, int64(-1), int64(0), int64(1), int64(2), int64(3), 1.5, 2.5,
		"", "a", "apple", "Apple", "b", "banana", "x", "1"}
	scalar := func() any { return scalars[r.IntN(len(scalars))] }
	value := func() (any, bool) {
		switch r.IntN(8) {
		case 0:
			return nil, false // missing
		case 1:
			return []any{}, true
		case 2, 3:
			arr := make([]any, 1+r.IntN(3))
			for i := range arr {
				arr[i] = scalar()
			}
			return arr, true
		default:
			return scalar(), true
		}
	}
	docs := make([]store.Doc, 40)
	for i := range docs {
		d := store.Doc{store.FieldID: fmt.Sprintf("m%02d", i)}
		for _, f := range []string{"n", "s", "t", "b"} {
			if v, ok := value(); ok {
				d[f] = v
			}
		}
		switch r.IntN(4) {
		case 0: // no o
		case 1:
			d["o"] = scalar()
		default:
			o := map[string]any{}
			if v, ok := value(); ok {
				o["k"] = v
			}
			if r.IntN(2) == 0 {
				m := map[string]any{}
				if v, ok := value(); ok {
					m["z"] = v
				}
				o["m"] = m
			}
			d["o"] = o
		}
		docs[i] = store.Normalize(d).(map[string]any)
	}
	return docs
}

var (
	modelPaths    = []string{"n", "s", "t", "b", "o", "o.k", "o.m", "o.m.z", "missing"}
	modelValues   = []any{nil, true, false, int64(-1), int64(0), int64(1), int64(2), int64(3), 1.5, 2.5, "", "a", "apple", "b", "x", "1"}
	modelOrdered  = []any{int64(-1), int64(0), int64(1), int64(2), int64(3), 1.5, 2.5, "", "a", "apple", "Apple", "b", "x", "1"}
	modelPatterns = []string{"^a", "an", "^[xb]", "e$", "A", "^$", "p+"}
)

// RandomFilter builds a random valid filter over the paths and values of
// ModelDocs, nested at most depth levels.
func RandomFilter(r *rand.Rand, depth int) store.Filter {
	pick := func(vals []any) any { return vals[r.IntN(len(vals))] }
	path := modelPaths[r.IntN(len(modelPaths))]
	if depth > 0 && r.IntN(3) == 0 {
		switch r.IntN(3) {
		case 0, 1:
			subs := make([]store.Filter, r.IntN(4))
			for i := range subs {
				subs[i] = RandomFilter(r, depth-1)
			}
			if r.IntN(2) == 0 {
				return store.And{Filters: subs}
			}
			return store.Or{Filters: subs}
		default:
			return store.Not{Filter: RandomFilter(r, depth-1)}
		}
	}
	switch r.IntN(7) {
	case 0, 1:
		op := store.OpEq
		if r.IntN(3) == 0 {
			op = store.OpNe
		}
		return store.Compare{Path: path, Op: op, Value: pick(modelValues)}
	case 2, 3:
		ops := []store.Op{store.OpGt, store.OpGte, store.OpLt, store.OpLte}
		return store.Compare{Path: path, Op: ops[r.IntN(len(ops))], Value: pick(modelOrdered)}
	case 4:
		vals := make([]any, r.IntN(4))
		for i := range vals {
			vals[i] = pick(modelValues)
		}
		return store.In{Path: path, Values: vals, Not: r.IntN(2) == 0}
	case 5:
		return store.Exists{Path: path, Exists: r.IntN(2) == 0}
	default:
		return store.Regex{Path: path, Pattern: modelPatterns[r.IntN(len(modelPatterns))], CaseInsensitive: r.IntN(3) == 0}
	}
}

// CheckAgainstModel runs f on c (which holds ModelDocs) through Find and
// Count and compares the answers with Matches. It returns a description
// of the first difference, or "".
func CheckAgainstModel(t testing.TB, c store.Collection, docs []store.Doc, f store.Filter) string {
	t.Helper()
	var want []string
	for _, d := range docs {
		if Matches(d, f) {
			want = append(want, store.DocID(d))
		}
	}
	page, err := c.Find(t.Context(), store.Query{Filter: f, Limit: store.MaxLimit})
	if err != nil {
		return fmt.Sprintf("Find(%s): %v", FilterString(f), err)
	}
	got := make([]string, 0, len(page.Docs))
	for _, d := range page.Docs {
		got = append(got, store.DocID(d))
	}
	sort.Strings(got)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		return fmt.Sprintf("Find(%s) = [%s], reference says [%s]", FilterString(f), strings.Join(got, " "), strings.Join(want, " "))
	}
	n, err := c.Count(t.Context(), f)
	if err != nil || int(n) != len(want) {
		return fmt.Sprintf("Count(%s) = %d (%v), reference says %d", FilterString(f), n, err, len(want))
	}
	return ""
}

// FilterString renders a filter readably for failure messages.
func FilterString(f store.Filter) string {
	switch x := f.(type) {
	case nil:
		return "{}"
	case store.Compare:
		return fmt.Sprintf("{%s %s %#v}", x.Path, x.Op, x.Value)
	case store.In:
		op := "$in"
		if x.Not {
			op = "$nin"
		}
		return fmt.Sprintf("{%s %s %#v}", x.Path, op, x.Values)
	case store.Exists:
		return fmt.Sprintf("{%s $exists %v}", x.Path, x.Exists)
	case store.Regex:
		return fmt.Sprintf("{%s $regex %q i=%v}", x.Path, x.Pattern, x.CaseInsensitive)
	case store.And:
		return "$and[" + joinFilters(x.Filters) + "]"
	case store.Or:
		return "$or[" + joinFilters(x.Filters) + "]"
	case store.Not:
		return "$not(" + FilterString(x.Filter) + ")"
	}
	return fmt.Sprintf("%#v", f)
}

func joinFilters(fs []store.Filter) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = FilterString(f)
	}
	return strings.Join(parts, ", ")
}

// modelCase is Filter/MatchesReference: a few hundred random filters over
// ModelDocs, each compared with the reference semantics.
func modelCase(t *testing.T, db store.DB) {
	c := db.Collection("model")
	docs := ModelDocs()
	for _, d := range docs {
		insert(t, c, d)
	}
	r := rand.New(rand.NewPCG(1, 2))
	failures := 0
	for i := 0; i < 300 && failures < 10; i++ {
		if msg := CheckAgainstModel(t, c, docs, RandomFilter(r, 3)); msg != "" {
			t.Error(msg)
			failures++
		}
	}
}
