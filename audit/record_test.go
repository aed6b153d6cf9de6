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
		back, err := recordFromCompact(string(r.appendCompact(nil, nil, time.Time{})), nil, time.Time{})
		if err != nil {
			t.Fatalf("own line refused: %v", err)
		}
		back.Chain, back.Prev = r.Chain, r.Prev
		if got, want := back.canonicalJSON(), r.canonicalJSON(); string(got) != string(want) {
			t.Fatalf("round trip changed the record\n got %s\nwant %s", got, want)
		}
		if _, err := recordFromCompact(line, nil, time.Time{}); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("line %q: %v, want ErrCorrupt", line, err)
		}
	})
}

// FuzzCompactRepeat holds format 3's lines after a segment's first to the
// canonical encoding: a record written after another, with any of its
// fields equal to the other's, empty, or neither, and read back after it,
// hashes the same. Any line at all after a record either decodes or is
// ErrCorrupt, never a panic.
func FuzzCompactRepeat(f *testing.F) {
	f.Add(uint16(0xffff), int64(-3), "Mozilla/5.0", "/v1/auth/me", 200, 1.25, "2|15|||||||||||||0.5|rid")
	f.Add(uint16(0x5555), int64(90000000), "", "a|b \\p\\e\n\r\t", -1, 0.0, `3|x||\e|\e\e||`)
	f.Add(uint16(0), int64(1), `\e`, `\\e`, 0, math.Copysign(0, -1), `4|-1|\\e|\e`)
	f.Fuzz(func(t *testing.T, same uint16, dt int64, ua, route string, status int, lat float64, line string) {
		first := sample("app", "prod", 1)
		first.normalize(time.Now())
		first.N, first.Time = 1, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		r := Record{Time: first.Time.Add(time.Duration(dt%1e12) * time.Microsecond),
			App: "app", Env: "prod", Actor: Actor{Kind: ua, ID: route}, AppVersion: ua, UserAgent: ua, IP: route,
			Method: ua, Route: route, Resource: route, Action: ua, Status: status, LatencyMs: lat, RequestID: route}
		r.normalize(time.Now())
		// Bits of same pick fields to copy from first; the rest keep the
		// fuzzed values (often empty).
		src, dst := first.lineStrings(), []*string{&r.App, &r.Env, &r.Actor.Kind, &r.Actor.ID, &r.AppVersion,
			&r.UserAgent, &r.IP, &r.Method, &r.Route, &r.Resource, &r.Action}
		for i, p := range dst {
			if same&(1<<i) != 0 {
				*p = src[i]
			}
		}
		if same&(1<<11) != 0 {
			r.Status = first.Status
		}
		if same&(1<<12) != 0 {
			r.LatencyMs = first.LatencyMs
		}
		if same&(1<<13) != 0 {
			r.RequestID = first.RequestID
		}
		r.N = 2
		line1 := first.appendCompact(nil, nil, time.Time{})
		line2 := r.appendCompact(nil, &first, first.Time)
		back1, err := recordFromCompact(string(line1), nil, time.Time{})
		if err != nil {
			t.Fatalf("own first line refused: %v", err)
		}
		back2, err := recordFromCompact(string(line2), &back1, back1.Time)
		if err != nil {
			t.Fatalf("own line %q refused: %v", line2, err)
		}
		back1.Chain, back2.Chain = first.Chain, r.Chain // the segment's
		for _, c := range [][2]*Record{{&first, &back1}, {&r, &back2}} {
			if got, want := c[1].canonicalJSON(), c[0].canonicalJSON(); string(got) != string(want) {
				t.Fatalf("round trip of %q changed the record\n got %s\nwant %s", line2, got, want)
			}
		}
		if _, err := recordFromCompact(line, &back1, back1.Time); err != nil && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("line %q: %v, want ErrCorrupt", line, err)
		}
	})
}

// TestInvalidUTF8Verifies stores a record whose strings are not valid
// UTF-8 (a User-Agent clipped inside a character) in every segment
// format and verifies the chain.
func TestInvalidUTF8Verifies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, db := range databases(t) {
		for _, format := range []int{1, 2, 3} {
			t.Run(fmt.Sprintf("%s/format=%d", name, format), func(t *testing.T) {
				s := newService(t, db, Config{Sync: true})
				s.format = format
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
