package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// canonicalReflect is the canonical encoding through encoding/json: the
// definition appendCanonical must match byte for byte, or every stored
// hash would stop verifying.
func canonicalReflect(r *Record) []byte {
	b, _ := json.Marshal(canonical{
		V: 1, Chain: r.Chain, N: r.N, Prev: r.Prev, Time: store.FormatTime(r.Time),
		App: r.App, Env: r.Env, ActorKind: r.Actor.Kind, ActorID: r.Actor.ID,
		AppVersion: r.AppVersion, UserAgent: r.UserAgent, IP: r.IP,
		Method: r.Method, Route: r.Route, Resource: r.Resource, Action: r.Action,
		Status: r.Status, LatencyMs: r.LatencyMs, RequestID: r.RequestID,
	})
	return b
}

func TestCanonicalMatchesEncodingJSON(t *testing.T) {
	for _, r := range []Record{
		{},
		sample("app", "prod", 7),
		{Chain: "a/b", N: -3, Prev: "p", Time: time.Unix(1, 999), Status: 599, LatencyMs: 1e-9, UserAgent: "<script>&\u2028\xff"},
		{LatencyMs: 1e22, Method: "GET", Route: "/v1/x/{id}"},
		{LatencyMs: math.NaN()},
		{LatencyMs: math.Inf(-1)},
	} {
		if got, want := r.canonicalJSON(), canonicalReflect(&r); string(got) != string(want) {
			t.Errorf("canonical encoding\n got %s\nwant %s", got, want)
		}
	}
}

// FuzzCanonical holds appendCanonical to encoding/json on any field
// values a request can put in a record.
func FuzzCanonical(f *testing.F) {
	f.Add("app/env", int64(1), "prev", int64(1700000000), "Mozilla/5.0 <x> & \"y\"", "/v1/auth/me", 200, 1.25)
	f.Add("", int64(0), "", int64(-1), "\xff\u2029", "", -1, 1e-7)
	f.Fuzz(func(t *testing.T, chain string, n int64, prev string, sec int64, ua, route string, status int, lat float64) {
		r := Record{Chain: chain, N: n, Prev: prev, Time: time.Unix(sec%1e10, 0), UserAgent: ua, Route: route, Status: status, LatencyMs: lat, IP: ua, Resource: route}
		if got, want := r.canonicalJSON(), canonicalReflect(&r); string(got) != string(want) {
			t.Fatalf("canonical encoding\n got %s\nwant %s", got, want)
		}
	})
}

// FuzzCompact holds the compact line to the canonical encoding: a record
// written compactly and read back hashes the same. Any line at all either
// decodes or is ErrCorrupt, never a panic.
func FuzzCompact(f *testing.F) {
	f.Add(int64(7), int64(1700000000), "app", "Mozilla/5.0 <x> & \"y\"", "/v1/auth/me", 200, 1.25, "1|2026-01-01T00:00:00.000000Z|a|e|user|u1||ua|ip|GET|/r|res|read|200|0.5|rid")
	f.Add(int64(-1), int64(-5), "", "\xff\u2029 a|b \\p\n\r\t", "", -1, 1e-7, `1|x\q|`)
	f.Fuzz(func(t *testing.T, n, sec int64, app, ua, route string, status int, lat float64, line string) {
		r := Record{Chain: "c", N: n, Prev: "p", App: app, Time: time.Unix(sec%1e10, 0).UTC(), UserAgent: ua, Route: route, Status: status, LatencyMs: lat, IP: ua, Resource: route, RequestID: app}
		r.normalize(time.Now())
		r.Chain, r.N, r.Prev = "c", n, "p"
		back, err := recordFromCompact(string(r.appendCompact(nil, store.FormatTime(r.Time))))
		if err != nil {
			t.Fatalf("own line refused: %v", err)
		}
		back.Chain, back.Prev = r.Chain, r.Prev
		if got, want := back.canonicalJSON(), r.canonicalJSON(); string(got) != string(want) {
			t.Fatalf("round trip changed the record\n got %s\nwant %s", got, want)
		}
		if _, err := recordFromCompact(line); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("line %q: %v, want ErrCorrupt", line, err)
		}
	})
}

// TestInvalidUTF8Verifies stores a record whose strings are not valid
// UTF-8 (a User-Agent clipped inside a character) in both segment
// formats and verifies the chain.
func TestInvalidUTF8Verifies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, db := range databases(t) {
		for _, format1 := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/format1=%v", name, format1), func(t *testing.T) {
				s := newService(t, db, Config{Sync: true})
				s.format1 = format1
				s.Start()
				app := "u" + store.NewID()[:8]
				r := sample(app, "prod", 1)
				r.UserAgent, r.Resource = "agent \xe6\x97", "objects/\xff"
				if err := s.Record(ctx, r); err != nil {
					t.Fatal(err)
				}
				mustVerify(t, s, ChainOf(app, "prod"))
			})
		}
	}
}
