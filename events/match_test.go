package events

import (
	"math/rand/v2"
	"testing"

	"github.com/skybridgehq/skybridge/store"
	"github.com/skybridgehq/skybridge/store/storetest"
)

// checkAgainstReference fails when the Matcher of f disagrees with the
// store's reference semantics (storetest.Matches) on any model document.
func checkAgainstReference(t *testing.T, f store.Filter, what string) {
	t.Helper()
	m, err := NewMatcher(f)
	if err != nil {
		t.Fatalf("%s: NewMatcher: %v", what, err)
	}
	for _, d := range storetest.ModelDocs() {
		if got, want := m.Match(d), storetest.Matches(d, f); got != want {
			t.Fatalf("%s on %v: Match = %v, reference %v", what, d, got, want)
		}
	}
}

func TestMatcherAgreesWithReference(t *testing.T) {
	t.Parallel()
	for _, s := range matchSeeds {
		f, err := store.ParseFilter([]byte(s))
		if err != nil {
			t.Fatalf("seed %s: %v", s, err)
		}
		checkAgainstReference(t, f, s)
	}
	for seed := range uint64(300) {
		f := storetest.RandomFilter(rand.New(rand.NewPCG(seed, 7)), 4)
		checkAgainstReference(t, f, "random filter")
	}
}

func TestNewMatcherRefusesInvalid(t *testing.T) {
	t.Parallel()
	for _, f := range []store.Filter{
		store.Compare{Path: "$where", Op: store.OpEq, Value: int64(1)},
		store.Compare{Path: "n", Op: "$expr", Value: int64(1)},
		store.Regex{Path: "s", Pattern: "("},
		store.Not{},
	} {
		if _, err := NewMatcher(f); err == nil {
			t.Errorf("NewMatcher(%#v) accepted", f)
		}
	}
}

var matchSeeds = []string{
	`{}`, `{"n":1}`, `{"n":null}`, `{"t":"x"}`, `{"t":{"$ne":null}}`, `{"n":{"$gt":1}}`,
	`{"s":{"$lt":"b"}}`, `{"o.k":{"$in":[1,"a",null,true]}}`, `{"t":{"$nin":["x",1]}}`,
	`{"o.m.z":{"$exists":false}}`, `{"s":{"$regex":"^a","$options":"i"}}`, `{"t":{"$regex":"x"}}`,
	`{"$or":[{"b":true},{"n":{"$not":{"$gte":2}}}]}`, `{"$and":[{"o":{"$exists":true}},{"o.k":{"$lte":"apple"}}]}`,
	`{"b":{"$in":[false,0]}}`, `{"n":2.5}`, `{"n":"1"}`, `{"o":5}`, `{"missing":null}`,
}

// FuzzMatcher: any filter that parses compiles and selects exactly what
// the reference selects.
func FuzzMatcher(f *testing.F) {
	for _, s := range matchSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		flt, err := store.ParseFilter(data)
		if err != nil {
			return
		}
		checkAgainstReference(t, flt, string(data))
	})
}
