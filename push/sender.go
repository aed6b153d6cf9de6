package push

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// outMessage is one notification to one installation.
type outMessage struct {
	nid, instID, token, platform, locale string
	req                                  *SendRequest
}

// resultKind classifies an answer of APNs or FCM.
type resultKind int

const (
	resultSent  resultKind = iota
	resultPrune            // the token is dead: delete the installation
	resultFail             // final failure
	resultRetry            // 429, 5xx or a transport failure
)

// result is one request's outcome.
type result struct {
	kind       resultKind
	reason     string // APNs reason or FCM error code
	retryAfter time.Duration
	// credentials: the failure is the credentials' (refused key).
	credentials bool
}

// sender delivers to one platform with one environment's credentials.
type sender interface {
	send(ctx context.Context, m *outMessage) result
}

// platformSender is the sender of one platform in one batch, or why there
// is none.
type platformSender struct {
	sender sender
	// code is the outcome reason when sender is nil.
	code string
	// service ("APNs", "FCM") and env name the failure sentences.
	service, env string

	mu     sync.Mutex
	reason string // the sentence explaining a credentials failure
}

// failure returns the sentence explaining why this platform's sends
// fail for credentials, "" when they do not.
func (p *platformSender) failure() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reason
}

// refused records that the service refused the credentials with code.
func (p *platformSender) refused(code string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reason == "" {
		p.reason = fmt.Sprintf("%s refused the credentials of environment %s (%s); replace them through the admin API.", p.service, p.env, code)
	}
}

// cachedSender is a sender built from one version of a credentials
// document.
type cachedSender struct {
	version int64
	sender  sender
	err     error
}

// senderFor returns the sender of platform in env, built from the stored
// credentials (and cached until they change).
func (s *Service) senderFor(ctx context.Context, env Env, platform string) *platformSender {
	kind, service := kindAPNs, "APNs"
	if platform != PlatformIOS {
		kind, service = kindFCM, "FCM"
	}
	ps := &platformSender{service: service, env: env.Name}
	id := credentialID(env, kind)
	doc, err := s.sys.Collection(CredentialsCollection).Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		ps.code = "NoCredentials"
		ps.reason = fmt.Sprintf("%s credentials are not configured for environment %s.", service, env.Name)
		return ps
	}
	if err != nil {
		ps.code = "CredentialsUnreadable"
		ps.reason = fmt.Sprintf("%s credentials of environment %s could not be read: %v.", service, env.Name, err)
		return ps
	}
	s.sendersMu.Lock()
	c := s.senders[id]
	s.sendersMu.Unlock()
	if c == nil || c.version != store.DocVersion(doc) {
		c = &cachedSender{version: store.DocVersion(doc)}
		c.sender, c.err = s.buildSender(ctx, env, kind, doc)
		s.sendersMu.Lock()
		s.senders[id] = c
		s.sendersMu.Unlock()
	}
	if c.err != nil {
		ps.code = "CredentialsUnusable"
		ps.reason = fmt.Sprintf("%s credentials of environment %s cannot be used: %v.", service, env.Name, c.err)
		return ps
	}
	ps.sender = c.sender
	return ps
}

// buildSender builds the sender of stored credentials.
func (s *Service) buildSender(ctx context.Context, env Env, kind string, doc store.Doc) (sender, error) {
	secret, err := s.openSecret(doc)
	if err != nil {
		return nil, err
	}
	switch kind {
	case kindAPNs:
		c, err := apnsFromDoc(doc, secret)
		if err != nil {
			return nil, err
		}
		return s.newAPNs(c)
	default:
		return s.newFCM(ctx, secret)
	}
}
