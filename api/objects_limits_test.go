package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

func testObjectUniqueIndex(t *testing.T, o *objEnv) {
	ada, bob := o.user("dev", "ada"), o.user("dev", "bob")
	idx := []store.Index{{Fields: []string{"email"}, Unique: true}}
	if _, err := o.api.deps.Objects.PutSettings(t.Context(), o.envDB("dev"), "people", objectstore.SettingsPatch{Indexes: &idx}); err != nil {
		t.Fatal(err)
	}
	o.call(t, ada, "POST", objectsPath("people"), map[string]any{"email": "a@example.com"}).want(t, 201)
	p := o.call(t, ada, "POST", objectsPath("people"), map[string]any{"email": "a@example.com"}).problem(t, 409, "")
	// The index spans owners: bob collides with an object he cannot see.
	o.call(t, bob, "POST", objectsPath("people"), map[string]any{"email": "a@example.com"}).problem(t, 409, "")
	loc := o.call(t, bob, "POST", objectsPath("people"), map[string]any{"email": "b@example.com"}).want(t, 201).header.Get("Location")
	o.call(t, bob, "PUT", loc, map[string]any{"email": "a@example.com"}).problem(t, 409, "")
	o.call(t, bob, "PATCH", loc, map[string]any{"email": "a@example.com"}).problem(t, 409, "")
	if p.Type != problemTypePrefix+"conflict" {
		t.Errorf("unique violation problem %+v", p)
	}
}

func testObjectSchema(t *testing.T, o *objEnv) {
	ada := o.user("dev", "ada")
	schema := json.RawMessage(`{"type": "object", "required": ["title"], "properties": {
		"title": {"type": "string", "maxLength": 20},
		"n": {"type": "integer", "minimum": 0},
		"tags": {"type": "array", "items": {"type": "string"}}}}`)
	if _, err := o.api.deps.Objects.PutSettings(t.Context(), o.envDB("dev"), "typed", objectstore.SettingsPatch{Schema: &schema}); err != nil {
		t.Fatal(err)
	}
	p := o.call(t, ada, "POST", objectsPath("typed"), map[string]any{"title": 5, "n": -1, "tags": []any{"ok", 7}}).problem(t, 400, "/title")
	for _, ptr := range []string{"/n", "/tags/1"} {
		if !p.names(ptr) {
			t.Errorf("schema problem does not name %s: %+v", ptr, p)
		}
	}
	if p.Type != problemTypePrefix+"schema-violation" {
		t.Errorf("schema problem %+v", p)
	}
	o.call(t, ada, "POST", objectsPath("typed"), map[string]any{"n": 1}).problem(t, 400, "")
	loc := o.call(t, ada, "POST", objectsPath("typed"), map[string]any{"title": "ok", "n": 1}).want(t, 201).header.Get("Location")
	o.call(t, ada, "PATCH", loc, map[string]any{"n": "many"}).problem(t, 400, "/n")
	o.call(t, ada, "PUT", loc, map[string]any{"n": 2}).problem(t, 400, "")
	o.call(t, ada, "PATCH", loc, map[string]any{"n": 2}).want(t, 200)
}

func testObjectTooLarge(t *testing.T, o *objEnv) {
	ada := o.user("dev", "ada")
	// 1.5 MiB: under the API's 2 MiB body limit, over the store's 1 MiB
	// object limit.
	big := strings.Repeat("x", 3<<19)
	p := o.call(t, ada, "POST", objectsPath("big"), map[string]any{"blob": big}).problem(t, 413, "")
	if p.Type != problemTypePrefix+"object-too-large" {
		t.Errorf("problem %+v", p)
	}
	loc := o.call(t, ada, "POST", objectsPath("big"), map[string]any{"blob": "small"}).want(t, 201).header.Get("Location")
	o.call(t, ada, "PUT", loc, map[string]any{"blob": big}).problem(t, 413, "")
	o.call(t, ada, "PATCH", loc, map[string]any{"blob": big}).problem(t, 413, "")
	// Over the body limit: refused before it is read in full.
	p = o.call(t, ada, "POST", objectsPath("big"), map[string]any{"blob": big + big}).problem(t, 413, "")
	if p.Type != problemTypePrefix+"body-too-large" {
		t.Errorf("problem %+v", p)
	}
}

func testObjectIdempotency(t *testing.T, o *objEnv) {
	ada, bob := o.user("dev", "ada"), o.user("dev", "bob")
	col := objectsPath("orders")
	body := map[string]any{"item": "tea", "qty": 2}
	first := o.call(t, ada, "POST", col, body, IdempotencyKeyHeader, "order-1").want(t, 201)
	if first.header.Get(IdempotentReplayedHeader) != "" {
		t.Fatalf("the first answer is marked replayed")
	}
	again := o.call(t, ada, "POST", col, body, IdempotencyKeyHeader, "order-1").want(t, 201)
	for _, h := range []string{"Location", "ETag", "Content-Type"} {
		if again.header.Get(h) != first.header.Get(h) {
			t.Errorf("replayed %s %q, first %q", h, again.header.Get(h), first.header.Get(h))
		}
	}
	if !bytes.Equal(again.body, first.body) || again.header.Get(IdempotentReplayedHeader) != "true" {
		t.Fatalf("replay %s (replayed %q), first %s", again.body, again.header.Get(IdempotentReplayedHeader), first.body)
	}
	if ids := o.listIDs(t, ada, "orders"); len(ids) != 1 {
		t.Fatalf("after a replay ada has %v", ids)
	}
	// The same key with another body (or another collection) is a 422.
	o.call(t, ada, "POST", col, map[string]any{"item": "tea", "qty": 3}, IdempotencyKeyHeader, "order-1").problem(t, 422, "")
	o.call(t, ada, "POST", objectsPath("orders2"), body, IdempotencyKeyHeader, "order-1").problem(t, 422, "")
	// Keys are the caller's own: bob's order-1 is another request.
	bobs := o.call(t, bob, "POST", col, body, IdempotencyKeyHeader, "order-1").want(t, 201)
	if bobs.header.Get("Location") == first.header.Get("Location") || bobs.header.Get(IdempotentReplayedHeader) != "" {
		t.Fatalf("bob got ada's answer")
	}
	// A client error is an answer too, replayed as it was.
	bad := o.call(t, ada, "POST", col, map[string]any{"_secret": 1}, IdempotencyKeyHeader, "order-2").problem(t, 400, "_secret")
	if bad.Instance == "" {
		t.Fatal("no instance")
	}
	badAgain := o.call(t, ada, "POST", col, map[string]any{"_secret": 1}, IdempotencyKeyHeader, "order-2").problem(t, 400, "_secret")
	if badAgain.Instance != bad.Instance {
		t.Errorf("the replayed problem is another one: %+v", badAgain)
	}

	// While the first request runs, a second one is told to retry.
	raw, _ := json.Marshal(body)
	hash := objectstore.RequestHash("POST", col, raw)
	env := o.envDB("dev")
	prev, err := o.api.deps.Objects.BeginIdempotent(t.Context(), env, idempotencyScope(objectstore.Principal{UserID: ada.id}), "order-3", hash)
	if err != nil || prev != nil {
		t.Fatalf("begin: %v, %v", prev, err)
	}
	busy := o.call(t, ada, "POST", col, string(raw), IdempotencyKeyHeader, "order-3")
	busy.problem(t, 409, "")
	if busy.header.Get("Retry-After") == "" {
		t.Errorf("409 without Retry-After")
	}
	if err := o.api.deps.Objects.AbandonIdempotent(t.Context(), env, idempotencyScope(objectstore.Principal{UserID: ada.id}), "order-3"); err != nil {
		t.Fatal(err)
	}
	o.call(t, ada, "POST", col, string(raw), IdempotencyKeyHeader, "order-3").want(t, 201)

	// Concurrent requests with one key: one runs, the others wait (409)
	// or get its answer; one object is created.
	appKey, _ := o.app.keys(t, "dev")
	const racers = 8
	results := make(chan objResp, racers)
	errs := make(chan error, racers)
	var wg sync.WaitGroup
	for range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := o.rawDo(appKey, ada.token, "POST", objectsPath("raced"), `{"n": 1}`, IdempotencyKeyHeader, "race-1")
			if err != nil {
				errs <- err
				return
			}
			results <- r
		}()
	}
	wg.Wait()
	close(results)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	ran, locations := 0, map[string]bool{}
	for r := range results {
		switch {
		case r.status == 201 && r.header.Get(IdempotentReplayedHeader) == "":
			ran++
			locations[r.header.Get("Location")] = true
		case r.status == 201:
			locations[r.header.Get("Location")] = true
		case r.status == 409:
		default:
			t.Errorf("racer got %d %s", r.status, r.body)
		}
	}
	if ran != 1 || len(locations) != 1 {
		t.Errorf("%d racers ran, locations %v", ran, locations)
	}
	if ids := o.listIDs(t, ada, "raced"); len(ids) != 1 {
		t.Errorf("racing with one key created %v", ids)
	}

	// Bad keys name the header.
	o.call(t, ada, "POST", col, body, IdempotencyKeyHeader, strings.Repeat("k", objectstore.MaxIdempotencyKeyLen+1)).problem(t, 400, IdempotencyKeyHeader)
}

// TestObjectIdempotencyReleasesOnServerError checks that a 5xx answer is
// not stored: the retry runs the handler again, and its success is what
// later retries get.
func TestObjectIdempotencyReleasesOnServerError(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, envOptions{})
	var runs atomic.Int32
	h := e.api.idempotent(func(w http.ResponseWriter, r *http.Request) {
		if runs.Add(1) == 1 {
			e.api.fail(w, r, context.DeadlineExceeded)
			return
		}
		w.Header().Set("Location", "/v1/collections/c/objects/x")
		e.api.respond(w, r, http.StatusCreated, map[string]any{"ok": true})
	})
	env := auth.Environment{AppID: "app", Name: "dev", DB: store.EnvDBName("app", "dev")}
	send := func() *httptest.ResponseRecorder {
		r := httptest.NewRequestWithContext(t.Context(), "POST", "/v1/collections/c/objects", strings.NewReader(`{"a":1}`))
		r.Header.Set(IdempotencyKeyHeader, "k")
		r = r.WithContext(withKeyedCall(r.Context(), keyedCall{env: env}))
		w := httptest.NewRecorder()
		h(w, r)
		return w
	}
	if w := send(); w.Code != http.StatusGatewayTimeout {
		t.Fatalf("first: %d %s", w.Code, w.Body)
	}
	if w := send(); w.Code != http.StatusCreated || w.Header().Get(IdempotentReplayedHeader) != "" {
		t.Fatalf("retry: %d %v", w.Code, w.Header())
	}
	w := send()
	if w.Code != http.StatusCreated || w.Header().Get(IdempotentReplayedHeader) != "true" || w.Header().Get("Location") == "" || runs.Load() != 2 {
		t.Fatalf("third: %d %v after %d runs", w.Code, w.Header(), runs.Load())
	}
}
