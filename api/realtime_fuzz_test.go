package api

import (
	"errors"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/iotbridge"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// FuzzRealtimeMessage: no client message panics the parser; what it
// accepts is a known op with a valid id, collection and filter, and what
// it refuses is a 400 problem.
func FuzzRealtimeMessage(f *testing.F) {
	for _, s := range []string{
		`{"op":"auth","key":"sbk_x","token":"t"}`,
		`{"op":"subscribe","id":"s1","collection":"todos","filter":{"done":true},"since":12}`,
		`{"op":"subscribe","id":"s1","collection":"todos","filter":null}`,
		`{"op":"subscribe","id":"s1","collection":"todos","filter":{"$where":"x"}}`,
		`{"op":"subscribe","id":"s1","collection":"1bad"}`,
		`{"op":"subscribe","id":"","collection":"todos"}`,
		`{"op":"subscribe","id":"s1","collection":"todos","since":-1}`,
		`{"op":"subscribe","id":"s1","collection":"todos","since":1.5}`,
		`{"op":"unsubscribe","id":"s1"}`,
		`{"op":"subscribe","id":"s1","collection":"todos","extra":1}`,
		`{"op":"nope"}`, `{}`, `[]`, `null`, `{"op":"auth"} {}`, ``,
		`{"op":"subscribe","id":"s1","device":"thing-1"}`,
		`{"op":"subscribe","id":"s1","device":"thing 1"}`,
		`{"op":"subscribe","id":"s1","device":"thing-1","since":3}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parseRealtimeMessage(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("%q: error %v does not wrap ErrInvalidInput", data, err)
			}
			if p := problemFor(err); p.Status != 400 {
				t.Fatalf("%q: problem %+v", data, p)
			}
			return
		}
		switch m.Op {
		case rtOpAuth:
			if m.Key == "" {
				t.Fatalf("%q: auth without key accepted", data)
			}
		case rtOpUnsubscribe:
			if m.ID == "" {
				t.Fatalf("%q: unsubscribe without id accepted", data)
			}
		case rtOpSubscribe:
			if m.Device != "" {
				if m.ID == "" || len(m.ID) > maxSubscriptionIDLen || !iotbridge.ValidDeviceID(m.Device) || m.Collection != "" || m.Since != nil || m.filter != nil {
					t.Fatalf("%q: accepted %+v", data, m)
				}
				return
			}
			if m.ID == "" || len(m.ID) > maxSubscriptionIDLen || objectstore.ValidCollectionName(m.Collection) != nil ||
				(m.Since != nil && *m.Since < 0) || store.ValidateFilter(m.filter) != nil {
				t.Fatalf("%q: accepted %+v", data, m)
			}
		default:
			t.Fatalf("%q: accepted op %q", data, m.Op)
		}
	})
}

// The operation budget allows a burst, then the sustained rate.
func TestRealtimeOpBudget(t *testing.T) {
	t.Parallel()
	start := time.Unix(1000, 0)
	b := opBudget{tokens: realtimeOpBurst, last: start}
	n := 0
	for b.take(start) {
		n++
	}
	if n != realtimeOpBurst {
		t.Errorf("burst of %d, want %d", n, realtimeOpBurst)
	}
	if !b.take(start.Add(time.Second / realtimeOpRate)) {
		t.Error("no token after one refill interval")
	}
	if b.take(start.Add(time.Second / realtimeOpRate)) {
		t.Error("two tokens from one refill interval")
	}
}
