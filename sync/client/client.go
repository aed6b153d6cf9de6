// Package client is the sync half of a Go SDK for Skybridge: a local store
// in one SQLite file, dirty tracking of offline edits, and Sync, which
// pushes them and then pulls the server's changes, with retries and
// backoff, calling a conflict callback for every conflict the server
// reports.
package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Config configures a Client.
type Config struct {
	// URL is the server's base URL ("https://api.example.com"). Required.
	URL string
	// AppKey is the app environment's public key. Required.
	AppKey string
	// Token, when set, returns the user's access token for each request.
	Token func() string
	// ServerKey, when set, is sent as X-Skybridge-Server-Key (trusted
	// tools only).
	ServerKey string
	// HTTP is the HTTP client. Default: one with a 30s timeout.
	HTTP *http.Client
	// OnConflict is called for every conflict a push reports. It returns
	// the content to keep locally and push again (a client-side merge),
	// or nil to adopt the server's document. Default: adopt the server's.
	OnConflict func(Conflict) map[string]any
	// OnApplied, when set, is called for every change the server
	// acknowledged, with the object's new _v.
	OnApplied func(col, id string, v int64)
	// Attempts bounds the tries of one request on a network error, a
	// 429 or a 5xx. Default: 5.
	Attempts int
	// Backoff is the wait before the second try, doubled each time up to
	// MaxBackoff. Defaults: 100ms and 5s.
	Backoff, MaxBackoff time.Duration
	// PullLimit is the page size of a pull. Default: the server's (100).
	PullLimit int
	// Now is the clock of clientTime. Default: time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.HTTP == nil {
		c.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if c.Attempts <= 0 {
		c.Attempts = 5
	}
	if c.Backoff <= 0 {
		c.Backoff = 100 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Conflict is one conflict of a push, as OnConflict receives it.
type Conflict struct {
	Collection, ID string
	// Local is the local content that was pushed (nil for a deletion).
	Local map[string]any
	// Server is the server's document (nil when gone or unreadable).
	Server map[string]any
	// Resolution is the server's: rejected, server-wins or merged.
	Resolution string
}

// ErrGone: the server compacted tombstones past a checkpoint; Sync
// handles it by pulling the collection from scratch.
var ErrGone = errors.New("sync client: checkpoint expired")

// Client syncs local collections with a Skybridge server. It is meant for
// one goroutine at a time.
type Client struct {
	cfg   Config
	local *local
}

// Open opens (or creates) the local store at path.
func Open(ctx context.Context, path string, cfg Config) (*Client, error) {
	if cfg.URL == "" || cfg.AppKey == "" {
		return nil, errors.New("sync client: Config.URL and AppKey are required")
	}
	l, err := openLocal(ctx, path)
	if err != nil {
		return nil, err
	}
	return &Client{cfg: cfg.withDefaults(), local: l}, nil
}

// Close closes the local store.
func (c *Client) Close() error { return c.local.close() }

func newChangeID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Put stores doc (user fields) as object id of col locally, to be pushed.
func (c *Client) Put(ctx context.Context, col, id string, doc map[string]any) error {
	r, _, err := c.local.get(ctx, col, id)
	if err != nil {
		return err
	}
	r.col, r.id, r.doc, r.deleted, r.dirty = col, id, clone(doc), false, true
	r.changeID, r.clientTime = newChangeID(), c.cfg.Now().UTC().Format(time.RFC3339Nano)
	return c.local.put(ctx, r)
}

// Delete deletes object id of col locally, to be pushed.
func (c *Client) Delete(ctx context.Context, col, id string) error {
	r, ok, err := c.local.get(ctx, col, id)
	if err != nil || !ok {
		return err
	}
	r.doc, r.deleted, r.dirty = nil, true, true
	r.changeID, r.clientTime = newChangeID(), c.cfg.Now().UTC().Format(time.RFC3339Nano)
	return c.local.put(ctx, r)
}

// Get returns the local content of object id, false when absent or
// deleted.
func (c *Client) Get(ctx context.Context, col, id string) (map[string]any, bool, error) {
	r, ok, err := c.local.get(ctx, col, id)
	if err != nil || !ok || r.deleted {
		return nil, false, err
	}
	return r.doc, true, nil
}

// All returns the live local objects of col by id, with their base _v.
func (c *Client) All(ctx context.Context, col string) (map[string]Doc, error) {
	rows, err := c.local.rows(ctx, col, false)
	if err != nil {
		return nil, err
	}
	out := map[string]Doc{}
	for _, r := range rows {
		if !r.deleted {
			out[r.id] = Doc{Fields: r.doc, Version: r.base, Dirty: r.dirty}
		}
	}
	return out, nil
}

// Doc is a local object.
type Doc struct {
	Fields  map[string]any
	Version int64
	Dirty   bool
}

// Pending returns how many local changes of col wait to be pushed.
func (c *Client) Pending(ctx context.Context, col string) (int, error) {
	rows, err := c.local.rows(ctx, col, true)
	return len(rows), err
}

func clone(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// StatusError is a non-2xx answer of the server.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("sync client: server answered %d: %s", e.Status, e.Body)
}

// post sends body to path and decodes the answer into out, retrying
// network errors, 429 and 5xx with backoff.
func (c *Client) post(ctx context.Context, path string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	wait := c.cfg.Backoff
	for try := 1; ; try++ {
		err := c.postOnce(ctx, path, b, out)
		var se *StatusError
		retry := err != nil && ctx.Err() == nil && (!errors.As(err, &se) || se.Status == 429 || se.Status >= 500)
		if !retry || try >= c.cfg.Attempts {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, c.cfg.MaxBackoff)
	}
}

func (c *Client) postOnce(ctx context.Context, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.cfg.URL, "/")+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Skybridge-Key", c.cfg.AppKey)
	if c.cfg.ServerKey != "" {
		req.Header.Set("X-Skybridge-Server-Key", c.cfg.ServerKey)
	}
	if c.cfg.Token != nil {
		if tok := c.cfg.Token(); tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &StatusError{Status: resp.StatusCode, Body: string(data)}
	}
	return json.Unmarshal(data, out)
}

// Version returns the server _v the local copy of object id derives from,
// tombstones included; false when the object is unknown locally.
func (c *Client) Version(ctx context.Context, col, id string) (int64, bool, error) {
	r, ok, err := c.local.get(ctx, col, id)
	return r.base, ok, err
}
