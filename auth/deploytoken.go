package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/skybridgehq/skybridge/store"
)

// DeployTokenPrefix starts every deploy token; 43 base62 characters (256
// bits) follow. The prefix makes a leaked token easy to recognise and
// scan for.
const DeployTokenPrefix = "sbd_"

// DeployTokenUseInterval is how stale a deploy token's LastUsedAt may get:
// a verification writes the time of use only when the stored one is older,
// so a busy CI pipeline costs one write a minute, not one per request.
const DeployTokenUseInterval = time.Minute

// MaxDeployTokenNameLen bounds a deploy token's name, in characters.
const MaxDeployTokenNameLen = 100

const (
	collDeployTokens    = "deployTokens"
	deployTokenRandLen  = 43
	fieldDeployEnv      = "env"
	fieldDeployHash     = "hash"
	fieldDeployCreator  = "createdBy"
	fieldDeployLastUsed = "lastUsedAt"
)

// DeployToken is a long-lived credential for CI pipelines, scoped to one
// app environment. What it may do is the api package's policy. It never
// carries the token or its hash.
type DeployToken struct {
	// ID names the token in lists, revocations and audit records.
	ID string
	// Name says what the token is for, e.g. the CI pipeline.
	Name string
	// App and Env are the app environment the token is limited to.
	App string
	Env string
	// CreatedAt is when the token was issued.
	CreatedAt time.Time
	// CreatedBy is the id of the admin who created it. A token outlives
	// its creator: it belongs to the environment, and owners see and
	// revoke it there.
	CreatedBy string
	// LastUsedAt is when the token last authenticated a request, at most
	// DeployTokenUseInterval stale; zero when never used.
	LastUsedAt time.Time
}

// NewDeployToken is a token just created, with its secret, which is shown
// this once and stored only as a hash.
type NewDeployToken struct {
	DeployToken
	Token string
}

// WellFormedDeployToken reports whether tok has the shape of a deploy
// token: the prefix and exactly 43 base62 characters. It lets a caller
// refuse garbage without a lookup.
func WellFormedDeployToken(tok string) bool {
	if len(tok) != len(DeployTokenPrefix)+deployTokenRandLen || !strings.HasPrefix(tok, DeployTokenPrefix) {
		return false
	}
	for i := len(DeployTokenPrefix); i < len(tok); i++ {
		c := tok[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// normalizeDeployTokenName trims a name and checks it: 1 to
// MaxDeployTokenNameLen printable characters.
func normalizeDeployTokenName(name string) (string, error) {
	n := strings.TrimSpace(name)
	if n == "" || !utf8.ValidString(n) || utf8.RuneCountInString(n) > MaxDeployTokenNameLen {
		return "", fmt.Errorf("%w: deploy token name must have 1 to %d characters", ErrInvalid, MaxDeployTokenNameLen)
	}
	for _, r := range n {
		if r < ' ' || r == 0x7f {
			return "", fmt.Errorf("%w: deploy token name has a control character", ErrInvalid)
		}
	}
	return n, nil
}

// CreateDeployToken issues a deploy token for environment env of app
// appID on behalf of admin createdBy. A bad name is ErrInvalid, an unknown
// app or environment ErrNotFound.
func (s *Service) CreateDeployToken(ctx context.Context, appID, env, name, createdBy string) (NewDeployToken, error) {
	name, err := normalizeDeployTokenName(name)
	if err != nil {
		return NewDeployToken{}, err
	}
	if _, err := s.GetEnvironment(ctx, appID, env); err != nil {
		return NewDeployToken{}, err
	}
	tok := DeployTokenPrefix + randomString(base62, deployTokenRandLen)
	t := DeployToken{ID: store.NewID(), Name: name, App: appID, Env: env, CreatedAt: s.now(), CreatedBy: createdBy}
	_, err = s.sys.Collection(collDeployTokens).Insert(ctx, store.Doc{
		store.FieldID:      t.ID,
		fieldName:          t.Name,
		fieldAppID:         t.App,
		fieldDeployEnv:     t.Env,
		fieldDeployHash:    hashSecret(tok),
		fieldDeployCreator: t.CreatedBy,
		fieldCreatedAt:     store.FormatTime(t.CreatedAt),
	})
	if err != nil {
		return NewDeployToken{}, fmt.Errorf("create deploy token: %w", err)
	}
	s.log.InfoContext(ctx, "deploy token created", "token", t.ID, "app", appID, "env", env, "admin", createdBy)
	return NewDeployToken{DeployToken: t, Token: tok}, nil
}

// ListDeployTokens returns the deploy tokens of environment env of app
// appID, oldest first; ErrNotFound for an unknown app or environment.
func (s *Service) ListDeployTokens(ctx context.Context, appID, env string) ([]DeployToken, error) {
	if _, err := s.GetEnvironment(ctx, appID, env); err != nil {
		return nil, err
	}
	docs, err := findAll(ctx, s.sys.Collection(collDeployTokens), store.Query{
		Filter: store.And{Filters: []store.Filter{
			store.Compare{Path: fieldAppID, Op: store.OpEq, Value: appID},
			store.Compare{Path: fieldDeployEnv, Op: store.OpEq, Value: env},
		}},
		Sort: []store.SortKey{{Path: fieldCreatedAt}},
	})
	if err != nil {
		return nil, fmt.Errorf("list deploy tokens: %w", err)
	}
	out := make([]DeployToken, 0, len(docs))
	for _, d := range docs {
		t, err := deployTokenFromDoc(d)
		if err != nil {
			return nil, fmt.Errorf("list deploy tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, nil
}

// RevokeDeployToken deletes deploy token id of environment env of app
// appID; ErrNotFound when it has no such token. The token is refused from
// the next request on, on every node: VerifyDeployToken reads the store.
func (s *Service) RevokeDeployToken(ctx context.Context, appID, env, id string) error {
	notFound := fmt.Errorf("%w: deploy token %q of environment %q of app %q", ErrNotFound, id, env, appID)
	if !plausibleID(id) {
		return notFound
	}
	c := s.sys.Collection(collDeployTokens)
	d, err := c.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	if err != nil {
		return fmt.Errorf("revoke deploy token: %w", err)
	}
	if docString(d, fieldAppID) != appID || docString(d, fieldDeployEnv) != env {
		return notFound
	}
	if err := c.Delete(ctx, id, 0); errors.Is(err, store.ErrNotFound) {
		return notFound
	} else if err != nil {
		return fmt.Errorf("revoke deploy token: %w", err)
	}
	s.log.InfoContext(ctx, "deploy token revoked", "token", id, "app", appID, "env", env)
	return nil
}

// VerifyDeployToken returns the deploy token tok, looked up by its hash in
// the store on every call (so a revocation is seen at once everywhere). A
// malformed, unknown or revoked token is ErrUnauthorized. It records the
// time of use, at most once per DeployTokenUseInterval, best effort.
func (s *Service) VerifyDeployToken(ctx context.Context, tok string) (DeployToken, error) {
	if !WellFormedDeployToken(tok) {
		return DeployToken{}, fmt.Errorf("%w: malformed deploy token", ErrUnauthorized)
	}
	hash := hashSecret(tok)
	c := s.sys.Collection(collDeployTokens)
	page, err := c.Find(ctx, store.Query{
		Filter: store.Compare{Path: fieldDeployHash, Op: store.OpEq, Value: hash},
		Limit:  1,
	})
	if err != nil {
		return DeployToken{}, fmt.Errorf("verify deploy token: %w", err)
	}
	if len(page.Docs) == 0 {
		return DeployToken{}, fmt.Errorf("%w: unknown or revoked deploy token", ErrUnauthorized)
	}
	d := page.Docs[0]
	// The index lookup already matched; comparing again in constant time
	// guards against an adapter that matched loosely.
	if subtle.ConstantTimeCompare([]byte(docString(d, fieldDeployHash)), []byte(hash)) != 1 {
		return DeployToken{}, fmt.Errorf("%w: unknown or revoked deploy token", ErrUnauthorized)
	}
	t, err := deployTokenFromDoc(d)
	if err != nil {
		return DeployToken{}, fmt.Errorf("verify deploy token: %w", err)
	}
	if now := s.now(); now.Sub(t.LastUsedAt) >= DeployTokenUseInterval {
		_, err := c.Update(ctx, t.ID, store.DocVersion(d), store.Update{Set: map[string]any{fieldDeployLastUsed: store.FormatTime(now)}})
		switch {
		case err == nil:
			t.LastUsedAt = now
		case errors.Is(err, store.ErrVersionConflict), errors.Is(err, store.ErrNotFound):
			// Another request recorded its use, or a revocation raced
			// this one; either way there is nothing to record.
		default:
			s.log.WarnContext(ctx, "record deploy token use", "token", t.ID, "err", err)
		}
	}
	return t, nil
}

func deployTokenFromDoc(d store.Doc) (DeployToken, error) {
	created, err := parseTime(d[fieldCreatedAt])
	if err != nil {
		return DeployToken{}, fmt.Errorf("deploy token %q: %w", store.DocID(d), err)
	}
	t := DeployToken{
		ID:        store.DocID(d),
		Name:      docString(d, fieldName),
		App:       docString(d, fieldAppID),
		Env:       docString(d, fieldDeployEnv),
		CreatedAt: created,
		CreatedBy: docString(d, fieldDeployCreator),
	}
	if v, ok := d[fieldDeployLastUsed]; ok && v != nil {
		if t.LastUsedAt, err = parseTime(v); err != nil {
			return DeployToken{}, fmt.Errorf("deploy token %q: %w", store.DocID(d), err)
		}
	}
	return t, nil
}
