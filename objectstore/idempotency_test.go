package objectstore

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestIdempotency(t *testing.T) {
	t.Parallel()
	clk := &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	forEachStoreCfg(t, Config{Now: clk.Now}, func(t *testing.T, s *Service) {
		ctx := ctxT(t)
		hash := RequestHash("POST", "/v1/collections/todos/objects", []byte(`{"a":1}`))
		other := RequestHash("POST", "/v1/collections/todos/objects", []byte(`{"a":2}`))
		if hash == other {
			t.Fatal("different bodies hash alike")
		}
		resp, err := s.BeginIdempotent(ctx, dev, "alice", "k1", hash)
		if resp != nil || err != nil {
			t.Fatalf("first begin = %v, %v", resp, err)
		}
		_, err = s.BeginIdempotent(ctx, dev, "alice", "k1", hash)
		wantErr(t, "begin while the first runs", err, ErrIdempotencyInProgress)
		want := IdempotentResponse{Status: 201, Header: [][2]string{{"Location", "/v1/collections/todos/objects/x"}}, Body: []byte(`{"_id":"x"}`)}
		if err := s.CompleteIdempotent(ctx, dev, "alice", "k1", hash, want); err != nil {
			t.Fatal(err)
		}
		resp, err = s.BeginIdempotent(ctx, dev, "alice", "k1", hash)
		if err != nil || resp == nil || resp.Status != 201 || string(resp.Body) != string(want.Body) || len(resp.Header) != 1 || resp.Header[0] != want.Header[0] {
			t.Fatalf("replay = %+v, %v", resp, err)
		}
		_, err = s.BeginIdempotent(ctx, dev, "alice", "k1", other)
		wantErr(t, "same key, other body", err, ErrIdempotencyMismatch)
		// Keys are per caller and per environment.
		if resp, err := s.BeginIdempotent(ctx, dev, "bob", "k1", other); resp != nil || err != nil {
			t.Errorf("bob's k1 = %v, %v", resp, err)
		}
		if resp, err := s.BeginIdempotent(ctx, prod, "alice", "k1", other); resp != nil || err != nil {
			t.Errorf("k1 in another environment = %v, %v", resp, err)
		}
		// An abandoned key runs again.
		if _, err := s.BeginIdempotent(ctx, dev, "alice", "k2", hash); err != nil {
			t.Fatal(err)
		}
		if err := s.AbandonIdempotent(ctx, dev, "alice", "k2"); err != nil {
			t.Fatal(err)
		}
		if resp, err := s.BeginIdempotent(ctx, dev, "alice", "k2", other); resp != nil || err != nil {
			t.Errorf("begin after abandon = %v, %v", resp, err)
		}
		// A started request whose node died loses its key after the lease.
		clk.Add(idempotencyLease + time.Second)
		if resp, err := s.BeginIdempotent(ctx, dev, "alice", "k2", hash); resp != nil || err != nil {
			t.Errorf("begin after the lease = %v, %v", resp, err)
		}
		_, err = s.BeginIdempotent(ctx, dev, "alice", strings.Repeat("k", MaxIdempotencyKeyLen+1), hash)
		wantField(t, "long key", err, "Idempotency-Key", ErrInvalid)
		// After 24 h the answer is forgotten, and pruned.
		clk.Add(DefaultIdempotencyTTL)
		n, err := s.PruneIdempotency(ctx, dev)
		if err != nil || n != 3 {
			t.Errorf("prune = %d, %v; want 3 (alice's k1 and k2, bob's k1)", n, err)
		}
		if resp, err := s.BeginIdempotent(ctx, dev, "alice", "k1", other); resp != nil || err != nil {
			t.Errorf("begin after expiry = %v, %v", resp, err)
		}
	})
}
