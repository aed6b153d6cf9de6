package audit

import (
	"encoding/json"
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
