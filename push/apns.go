package push

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sideshow/apns2"
	"github.com/sideshow/apns2/token"
)

// messageIDKey carries the message id in every payload (APNs top level,
// FCM data), the same on every attempt.
const messageIDKey = "sbMessageId"

// checkToken is the device token SetAPNs sends to: APNs answers a valid
// key with BadDeviceToken (or Unregistered), and a refused one with 403.
const checkToken = "0000000000000000000000000000000000000000000000000000000000000000"

// apnsSender sends through APNs over HTTP/2 with a shared provider token.
type apnsSender struct {
	s      *Service
	creds  APNsCredentials
	key    apnsKey
	client *apns2.Client
}

var _ sender = (*apnsSender)(nil)

// newAPNs builds the sender of c. TLS is always verified; only
// Config.APNsRootCAs (tests) replaces the system roots.
func (s *Service) newAPNs(c APNsCredentials) (*apnsSender, error) {
	k, err := token.AuthKeyFromBytes([]byte(c.Key))
	if err != nil {
		return nil, invalid("key", "is not a .p8 key: "+err.Error())
	}
	sum := sha256.Sum256([]byte(c.Key))
	host := apns2.HostDevelopment
	if c.Production {
		host = apns2.HostProduction
	}
	if s.cfg.APNsURL != "" {
		host = strings.TrimRight(s.cfg.APNsURL, "/")
	}
	// HTTP/2 only, as APNs requires: one connection, many streams.
	var protos http.Protocols
	protos.SetHTTP2(true)
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: s.cfg.APNsRootCAs, MinVersion: tls.VersionTLS12},
		Protocols:           &protos,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 4,
		HTTP2:               &http.HTTP2Config{SendPingTimeout: 15 * time.Second, PingTimeout: 5 * time.Second},
	}
	client := &apns2.Client{Host: host, HTTPClient: &http.Client{Transport: &apnsTransport{base: tr}}}
	return &apnsSender{
		s: s, creds: c, client: client,
		key: apnsKey{id: hashID(c.TeamID, c.KeyID, hex.EncodeToString(sum[:])), key: k, keyID: c.KeyID, teamID: c.TeamID},
	}, nil
}

// apnsCall carries, through a request's context, the bearer token the
// transport puts on it and the Retry-After the transport reads back
// (apns2's Response keeps no headers).
type apnsCall struct {
	bearer     string
	retryAfter time.Duration
}

type apnsCallKey struct{}

// apnsTransport puts the shared provider token on APNs requests and
// reads Retry-After off the answers.
type apnsTransport struct{ base http.RoundTripper }

func (t *apnsTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	call, _ := r.Context().Value(apnsCallKey{}).(*apnsCall)
	if call != nil {
		r = r.Clone(r.Context())
		r.Header.Set("authorization", "bearer "+call.bearer)
	}
	resp, err := t.base.RoundTrip(r)
	if err == nil && call != nil {
		call.retryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return resp, err
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// payload builds the APNs JSON of one message.
func (a *apnsSender) payload(m *outMessage) ([]byte, apns2.EPushType, int) {
	r := m.req
	n := r.Notification
	title, body := r.text(m.locale)
	aps := map[string]any{}
	if title != "" || body != "" {
		alert := map[string]any{}
		if title != "" {
			alert["title"] = title
		}
		if body != "" {
			alert["body"] = body
		}
		aps["alert"] = alert
	}
	if n.Badge != nil {
		aps["badge"] = *n.Badge
	}
	if n.Sound != "" {
		aps["sound"] = n.Sound
	}
	if n.Category != "" {
		aps["category"] = n.Category
	}
	if n.ContentAvailable {
		aps["content-available"] = 1
	}
	if o := r.IOS; o != nil {
		if o.ThreadID != "" {
			aps["thread-id"] = o.ThreadID
		}
		if o.InterruptionLevel != "" {
			aps["interruption-level"] = o.InterruptionLevel
		}
	}
	if n.ImageURL != "" || (r.IOS != nil && r.IOS.MutableContent) {
		aps["mutable-content"] = 1
	}
	p := map[string]any{"aps": aps, messageIDKey: messageUUID(m.nid, m.instID)}
	for k, v := range n.Data {
		p[k] = v
	}
	if n.ImageURL != "" {
		p["imageUrl"] = n.ImageURL
	}
	raw, _ := json.Marshal(p)
	pushType, prio := apns2.PushTypeAlert, apns2.PriorityHigh
	if aps["alert"] == nil && n.ContentAvailable {
		pushType, prio = apns2.PushTypeBackground, apns2.PriorityLow
	}
	if n.Priority == "normal" {
		prio = apns2.PriorityLow
	}
	return raw, pushType, prio
}

func (a *apnsSender) send(ctx context.Context, m *outMessage) result {
	raw, pushType, prio := a.payload(m)
	n := &apns2.Notification{
		DeviceToken: m.token, Topic: a.creds.BundleID, ApnsID: messageUUID(m.nid, m.instID),
		CollapseID: m.req.Notification.CollapseID, PushType: pushType, Priority: prio, Payload: raw,
	}
	if n.CollapseID == "" {
		n.CollapseID = m.nid
	}
	if ttl := m.req.Notification.TTL; ttl > 0 {
		n.Expiration = a.s.cfg.Now().Add(time.Duration(ttl) * time.Second)
	}
	return a.push(ctx, n)
}

// push sends n, once more with a new provider token when APNs calls the
// current one expired.
func (a *apnsSender) push(ctx context.Context, n *apns2.Notification) result {
	stale := ""
	for range 2 {
		bearer, err := a.s.tokens.bearer(ctx, a.key, stale)
		if err != nil {
			return result{kind: resultRetry, reason: "ProviderToken"}
		}
		call := &apnsCall{bearer: bearer}
		resp, err := a.client.PushWithContext(context.WithValue(ctx, apnsCallKey{}, call), n)
		if err != nil {
			return result{kind: resultRetry, reason: "Transport"}
		}
		res := classifyAPNs(resp)
		res.retryAfter = call.retryAfter
		if resp.Reason == apns2.ReasonExpiredProviderToken && stale == "" {
			stale = bearer
			continue
		}
		return res
	}
	return result{kind: resultFail, reason: apns2.ReasonExpiredProviderToken, credentials: true}
}

// classifyAPNs sorts an APNs answer.
func classifyAPNs(r *apns2.Response) result {
	reason := r.Reason
	if reason == "" {
		reason = strconv.Itoa(r.StatusCode)
	}
	switch {
	case r.StatusCode == http.StatusOK:
		return result{kind: resultSent}
	case r.StatusCode == http.StatusGone || r.Reason == apns2.ReasonUnregistered || r.Reason == apns2.ReasonBadDeviceToken:
		return result{kind: resultPrune, reason: reason}
	case r.StatusCode == http.StatusTooManyRequests || r.StatusCode >= 500:
		return result{kind: resultRetry, reason: reason}
	case r.StatusCode == http.StatusForbidden, r.Reason == apns2.ReasonBadTopic, r.Reason == apns2.ReasonTopicDisallowed, r.Reason == apns2.ReasonBadCertificateEnvironment:
		return result{kind: resultFail, reason: reason, credentials: true}
	}
	return result{kind: resultFail, reason: reason}
}

// check proves the key with one request to a token no device has.
func (a *apnsSender) check(ctx context.Context) error {
	n := &apns2.Notification{DeviceToken: checkToken, Topic: a.creds.BundleID, PushType: apns2.PushTypeBackground, Priority: apns2.PriorityLow, Payload: []byte(`{"aps":{"content-available":1}}`)}
	ctx, cancel := context.WithTimeout(ctx, a.s.cfg.SendTimeout)
	defer cancel()
	var res result
	for attempt := range 3 {
		res = a.push(ctx, n)
		if res.kind != resultRetry {
			break
		}
		if attempt < 2 {
			select {
			case <-time.After(200 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	}
	switch {
	case res.kind == resultSent || res.kind == resultPrune:
		return nil
	case res.kind == resultRetry:
		return fmt.Errorf("%w: APNs could not be reached or kept failing (%s)", ErrCredentials, res.reason)
	}
	return fmt.Errorf("%w: APNs refused the key (%s)", ErrCredentials, res.reason)
}
