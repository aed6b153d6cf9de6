package objectstore

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Idempotency bounds.
const (
	// MaxIdempotencyKeyLen bounds an Idempotency-Key.
	MaxIdempotencyKeyLen = 255
	// idempotencyLease is how long a started request holds its key before
	// another may take it over (the first one crashed).
	idempotencyLease = time.Minute
	fieldIdemHash    = "hash"
	fieldIdemStatus  = "status"
	fieldIdemBody    = "body"
	fieldIdemHeader  = "header"
	fieldIdemCreated = "createdAt"
	fieldIdemExpires = "expiresAt"
	pruneBatch       = 500
)

// IdempotentResponse is the stored answer to a request made with an
// Idempotency-Key.
type IdempotentResponse struct {
	// Status is the HTTP status of the answer.
	Status int
	// Header holds the response headers to replay (Location,
	// Content-Type), as name/value pairs.
	Header [][2]string
	// Body is the response body.
	Body []byte
	// CreatedAt is when the first request started.
	CreatedAt time.Time
}

// RequestHash fingerprints a request for Idempotency-Key comparison: the
// same key with another hash is ErrIdempotencyMismatch.
func RequestHash(method, path string, body []byte) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", method, path)
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// idempotencyID is the _id of a key's record: keys are scoped to the
// caller (a user id, or the server key), so that one caller's key never
// answers another's request.
func idempotencyID(scope, key string) string {
	sum := sha256.Sum256([]byte(scope + "\x00" + key))
	return hex.EncodeToString(sum[:])
}

// BeginIdempotent claims key for a request with hash by the caller scope.
// It returns (nil, nil) when the request should run (then
// CompleteIdempotent or AbandonIdempotent); the stored response when the
// same request already ran within Config.IdempotencyTTL;
// ErrIdempotencyMismatch when the key was used with another request;
// ErrIdempotencyInProgress while the first request still runs.
func (s *Service) BeginIdempotent(ctx context.Context, env Env, scope, key, hash string) (*IdempotentResponse, error) {
	if key == "" || len(key) > MaxIdempotencyKeyLen {
		return nil, fieldErr("Idempotency-Key", ErrInvalid, "must be 1 to %d bytes", MaxIdempotencyKeyLen)
	}
	db, err := s.db(ctx, env)
	if err != nil {
		return nil, err
	}
	c := db.Collection(collIdempotency)
	id := idempotencyID(scope, key)
	now := s.now()
	pending := store.Doc{
		store.FieldID:    id,
		fieldIdemHash:    hash,
		fieldIdemStatus:  int64(0),
		fieldIdemCreated: store.FormatTime(now),
		fieldIdemExpires: store.FormatTime(now.Add(idempotencyLease)),
	}
	for try := 0; try < maxWriteTries; try++ {
		_, err := c.Insert(ctx, pending)
		if err == nil {
			return nil, nil
		}
		if !errors.Is(err, store.ErrDuplicate) {
			return nil, mapStoreErr("idempotency key", err)
		}
		cur, err := c.Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue // pruned meanwhile
		}
		if err != nil {
			return nil, mapStoreErr("idempotency key", err)
		}
		expires, _ := time.Parse(store.TimeFormat, docStr(cur, fieldIdemExpires))
		if !now.Before(expires) {
			if _, err := c.Replace(ctx, id, store.DocVersion(cur), pending); err == nil {
				return nil, nil
			}
			continue
		}
		if docStr(cur, fieldIdemHash) != hash {
			return nil, ErrIdempotencyMismatch
		}
		status, _ := store.Int64(cur[fieldIdemStatus])
		if status == 0 {
			return nil, ErrIdempotencyInProgress
		}
		return responseFromDoc(cur, int(status))
	}
	return nil, ErrIdempotencyInProgress
}

// CompleteIdempotent stores the response to the request that
// BeginIdempotent let run, replayed for Config.IdempotencyTTL.
func (s *Service) CompleteIdempotent(ctx context.Context, env Env, scope, key, hash string, resp IdempotentResponse) error {
	db, err := s.db(ctx, env)
	if err != nil {
		return err
	}
	now := s.now()
	header := make([]any, 0, len(resp.Header))
	for _, h := range resp.Header {
		// Pairs as objects: FerretDB stores no nested arrays.
		header = append(header, map[string]any{"name": h[0], "value": h[1]})
	}
	doc := store.Doc{
		fieldIdemHash:    hash,
		fieldIdemStatus:  int64(resp.Status),
		fieldIdemHeader:  header,
		fieldIdemBody:    base64.StdEncoding.EncodeToString(resp.Body),
		fieldIdemCreated: store.FormatTime(now),
		fieldIdemExpires: store.FormatTime(now.Add(s.cfg.IdempotencyTTL)),
	}
	if _, err := db.Collection(collIdempotency).Replace(ctx, idempotencyID(scope, key), 0, doc); err != nil {
		return mapStoreErr("store idempotent response", err)
	}
	return nil
}

// AbandonIdempotent releases a key whose request failed without an answer
// worth replaying (a server error), so that a retry runs again.
func (s *Service) AbandonIdempotent(ctx context.Context, env Env, scope, key string) error {
	db, err := s.db(ctx, env)
	if err != nil {
		return err
	}
	err = db.Collection(collIdempotency).Delete(ctx, idempotencyID(scope, key), 0)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return mapStoreErr("release idempotency key", err)
	}
	return nil
}

// PruneIdempotency deletes the expired idempotency records of env and
// returns how many went.
func (s *Service) PruneIdempotency(ctx context.Context, env Env) (int, error) {
	db, err := s.db(ctx, env)
	if err != nil {
		return 0, err
	}
	c := db.Collection(collIdempotency)
	if err := c.EnsureIndex(ctx, store.Index{Name: "idem_expires", Fields: []string{fieldIdemExpires}}); err != nil {
		return 0, mapStoreErr("idempotency index", err)
	}
	expired := store.Compare{Path: fieldIdemExpires, Op: store.OpLt, Value: store.FormatTime(s.now())}
	n, err := store.DeleteMatching(ctx, c, store.Query{Filter: expired, Limit: pruneBatch})
	if err != nil {
		return n, mapStoreErr("prune idempotency keys", err)
	}
	return n, nil
}

func responseFromDoc(d store.Doc, status int) (*IdempotentResponse, error) {
	body, err := base64.StdEncoding.DecodeString(docStr(d, fieldIdemBody))
	if err != nil {
		return nil, fmt.Errorf("objectstore: stored idempotent response: %w", err)
	}
	r := &IdempotentResponse{Status: status, Body: body}
	r.CreatedAt, _ = time.Parse(store.TimeFormat, docStr(d, fieldIdemCreated))
	hs, _ := d[fieldIdemHeader].([]any)
	for _, h := range hs {
		if pair, ok := h.(map[string]any); ok {
			r.Header = append(r.Header, [2]string{docStr(pair, "name"), docStr(pair, "value")})
		}
	}
	return r, nil
}

func docStr(d store.Doc, k string) string {
	s, _ := d[k].(string)
	return s
}
