// Package audit keeps Skybridge's append-only, tamper-evident audit trail:
// one record per /v1 and /admin/api request (who, from where, what, with
// which outcome; never bodies, secrets or tokens).
//
// Records are hash-chained. There is one chain per app environment (and one,
// "system", for requests that name no app, such as admin calls): each
// environment has its own retention, so pruning one never touches another;
// verification and queries are naturally scoped per environment; and writers
// of different environments never contend for the same chain position.
//
// Each record carries its position n in its chain (1, 2, ...), the hash of
// its predecessor (prev; "" for n = 1) and its own hash, SHA-256 over a
// canonical encoding of every other field. Positions are allocated without
// trusting memory alone: a record's _id is derived from (chain, n), so when
// two writers (two Services, possibly on two nodes sharing one store) race
// for the same position, the store refuses the second insert with
// store.ErrDuplicate, and the loser re-reads the chain head and retries.
//
// Editing a record breaks its hash; deleting one breaks the link of its
// successor. Deleting the newest records leaves a valid but shorter chain,
// so the head is anchored by periodic checkpoints: (chain, n, hash) signed
// with HMAC-SHA256 under Config.Key. Verify reports a chain that ends before
// its newest checkpoint. Records appended after the newest checkpoint can
// still be truncated unseen; that window is bounded by
// Config.CheckpointEvery and Config.CheckpointInterval, and Close writes a
// checkpoint for every chain it appended to.
//
// Prune removes a chain's oldest segments. It first writes a signed
// checkpoint for the newest record it removes; Verify then starts at the
// oldest remaining record and accepts its prev only when a valid checkpoint
// at n-1 carries that hash (the "pruned up to" anchor).
package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/skybridgehq/skybridge/internal/jsonenc"
	"github.com/skybridgehq/skybridge/store"
)

// Actor kinds.
const (
	ActorUser      = "user"
	ActorAdmin     = "admin"
	ActorServer    = "server"
	ActorDevice    = "device"
	ActorAnonymous = "anonymous"
	// ActorDeployToken is a CI pipeline's deploy token on the admin API;
	// the id is the token's id, never the token.
	ActorDeployToken = "deploy-token"
)

// SystemChain is the chain of records that name no app (admin API calls).
const SystemChain = "system"

// KeyPurpose is the keyring.Derive purpose of the default checkpoint key.
const KeyPurpose = "audit-checkpoint"

// Actor is who made a request.
type Actor struct {
	// Kind is one of ActorUser, ActorAdmin, ActorServer, ActorDevice,
	// ActorAnonymous, ActorDeployToken.
	Kind string `json:"kind"`
	// ID is the user, admin, key or device id; empty for anonymous calls.
	ID string `json:"id,omitempty"`
}

// Record is one audited request. The chain fields (Chain, N, Prev, Hash)
// are set by the Service when the record is stored; whatever a caller puts
// there is overwritten.
type Record struct {
	Time       time.Time `json:"time"`
	App        string    `json:"app,omitempty"`
	Env        string    `json:"env,omitempty"`
	Actor      Actor     `json:"actor"`
	AppVersion string    `json:"appVersion,omitempty"`
	UserAgent  string    `json:"userAgent,omitempty"`
	IP         string    `json:"ip,omitempty"`
	Method     string    `json:"method"`
	// Route is the route pattern ("/v1/collections/{col}/objects/{id}"),
	// not the raw path.
	Route string `json:"route"`
	// Resource names what was touched, as a slash path:
	// "collections/todos/objects/42", "flows/customer-orders", "devices/d1".
	Resource string `json:"resource,omitempty"`
	// Action is what was done: "object.update", "auth.login", ...
	Action    string  `json:"action,omitempty"`
	Status    int     `json:"status"`
	LatencyMs float64 `json:"latencyMs"`
	RequestID string  `json:"requestId,omitempty"`

	Chain string `json:"chain"`
	N     int64  `json:"n"`
	Prev  string `json:"prev"`
	Hash  string `json:"hash"`
}

// ChainOf names the chain of an app environment; SystemChain when app is
// empty.
func ChainOf(app, env string) string {
	if app == "" {
		return SystemChain
	}
	return app + "/" + env
}

// canonical is the hashed form of a record: every field but Hash, in a
// fixed order, the time in store.TimeFormat (microseconds, UTC). A version
// tag lets a later encoding coexist with this one.
type canonical struct {
	V          int     `json:"v"`
	Chain      string  `json:"chain"`
	N          int64   `json:"n"`
	Prev       string  `json:"prev"`
	Time       string  `json:"time"`
	App        string  `json:"app"`
	Env        string  `json:"env"`
	ActorKind  string  `json:"actorKind"`
	ActorID    string  `json:"actorId"`
	AppVersion string  `json:"appVersion"`
	UserAgent  string  `json:"userAgent"`
	IP         string  `json:"ip"`
	Method     string  `json:"method"`
	Route      string  `json:"route"`
	Resource   string  `json:"resource"`
	Action     string  `json:"action"`
	Status     int     `json:"status"`
	LatencyMs  float64 `json:"latencyMs"`
	RequestID  string  `json:"requestId"`
}

// ComputeHash returns the hex SHA-256 of r's canonical encoding (every
// field but Hash).
func (r *Record) ComputeHash() string { return hashOf(r.canonicalJSON()) }

// canonicalJSON is the encoding ComputeHash hashes; segments store records
// in it too (see segment.go).
func (r *Record) canonicalJSON() []byte { return r.appendCanonical(nil) }

// appendCanonical appends r's canonical encoding to b: the bytes
// encoding/json renders for canonical (a test holds the two together),
// written without reflection because the writer encodes every record.
func (r *Record) appendCanonical(b []byte) []byte {
	if math.IsNaN(r.LatencyMs) || math.IsInf(r.LatencyMs, 0) {
		// Not JSON: encoding/json fails, and so the hash is that of no
		// bytes. normalize never lets such a latency through.
		return b
	}
	b = append(b, `{"v":1,"chain":`...)
	b = jsonenc.AppendString(b, r.Chain)
	b = append(b, `,"n":`...)
	b = strconv.AppendInt(b, r.N, 10)
	for _, f := range [...]struct{ key, val string }{
		{`,"prev":`, r.Prev},
	} {
		b = append(b, f.key...)
		b = jsonenc.AppendString(b, f.val)
	}
	// A timestamp holds nothing JSON escapes.
	b = append(b, `,"time":"`...)
	b = appendTimestamp(b, r.Time)
	b = append(b, '"')
	for _, f := range [...]struct{ key, val string }{
		{`,"app":`, r.App}, {`,"env":`, r.Env},
		{`,"actorKind":`, r.Actor.Kind}, {`,"actorId":`, r.Actor.ID},
		{`,"appVersion":`, r.AppVersion}, {`,"userAgent":`, r.UserAgent},
		{`,"ip":`, r.IP}, {`,"method":`, r.Method}, {`,"route":`, r.Route},
		{`,"resource":`, r.Resource}, {`,"action":`, r.Action},
	} {
		b = append(b, f.key...)
		b = jsonenc.AppendString(b, f.val)
	}
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, `,"latencyMs":`...)
	b, _ = jsonenc.AppendFloat(b, r.LatencyMs)
	b = append(b, `,"requestId":`...)
	b = jsonenc.AppendString(b, r.RequestID)
	return append(b, '}')
}

func hashOf(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	var h [2 * sha256.Size]byte
	hex.Encode(h[:], sum[:])
	return string(h[:]) // one allocation; hex.EncodeToString makes two
}

// recordFromCanonical decodes a canonical encoding (with hash, which it
// does not hold). Unknown fields, another version or a malformed time are
// ErrCorrupt.
func recordFromCanonical(raw, hash string) (Record, error) {
	var c canonical
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Record{}, fmt.Errorf("%w: stored record: %v", ErrCorrupt, err)
	}
	t, err := time.Parse(store.TimeFormat, c.Time)
	if err != nil || c.V != 1 {
		return Record{}, fmt.Errorf("%w: stored record %s: bad time or version", ErrCorrupt, recordID(c.Chain, c.N))
	}
	return Record{
		Time: t, App: c.App, Env: c.Env, Actor: Actor{Kind: c.ActorKind, ID: c.ActorID},
		AppVersion: c.AppVersion, UserAgent: c.UserAgent, IP: c.IP,
		Method: c.Method, Route: c.Route, Resource: c.Resource, Action: c.Action,
		Status: c.Status, LatencyMs: c.LatencyMs, RequestID: c.RequestID,
		Chain: c.Chain, N: c.N, Prev: c.Prev, Hash: hash,
	}, nil
}

// normalize brings a caller's record into its stored shape: UTC time at
// microsecond precision (what the store keeps), latency rounded to the
// microsecond, chain derived from app and environment.
func (r *Record) normalize(now time.Time) {
	r.normalizeFields(now)
	r.Chain = ChainOf(r.App, r.Env)
}

// normalizeFields is normalize but for the chain, which it leaves empty.
func (r *Record) normalizeFields(now time.Time) {
	if r.Time.IsZero() {
		r.Time = now
	}
	r.Time = r.Time.UTC().Truncate(time.Microsecond)
	if math.IsNaN(r.LatencyMs) || math.IsInf(r.LatencyMs, 0) || r.LatencyMs < 0 {
		r.LatencyMs = 0
	}
	r.LatencyMs = math.Round(r.LatencyMs*1000) / 1000
	// Invalid UTF-8 (a byte-clipped User-Agent, a client's raw bytes)
	// would be encoded as \ufffd escapes but read back as the character
	// itself, which encodes otherwise: the record would no longer match
	// its hash. Stored strings are valid UTF-8.
	for _, f := range [...]*string{&r.App, &r.Env, &r.Actor.Kind, &r.Actor.ID, &r.AppVersion,
		&r.UserAgent, &r.IP, &r.Method, &r.Route, &r.Resource, &r.Action, &r.RequestID} {
		if !utf8.ValidString(*f) {
			*f = strings.ToValidUTF8(*f, "\uFFFD")
		}
	}
	r.Chain, r.N, r.Prev, r.Hash = "", 0, "", ""
}

// recordID names position n of a chain; a segment's _id is the name of
// its first position. Zero padding keeps ids in chain order.
func recordID(chain string, n int64) string {
	return fmt.Sprintf("%s:%020d", chain, n)
}

// docReader pulls typed fields out of a stored document, remembering the
// first field that had the wrong type.
type docReader struct {
	d   store.Doc
	bad string
}

func (x *docReader) str(v any, field string) string {
	if v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok && x.bad == "" {
		x.bad = field
	}
	return s
}

func (x *docReader) num(v any, field string) float64 {
	switch n := v.(type) {
	case nil:
		return 0
	case int64:
		return float64(n)
	case float64:
		return n
	case int:
		return float64(n)
	case int32:
		return float64(n)
	}
	if x.bad == "" {
		x.bad = field
	}
	return 0
}
