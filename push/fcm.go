package push

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
)

// fcmEndpoint is FCM HTTP v1; Config.FCMURL replaces it in tests.
const fcmEndpoint = "https://fcm.googleapis.com/v1"

// fcmScope is the OAuth2 scope of FCM sends.
const fcmScope = "https://www.googleapis.com/auth/firebase.messaging"

// fcmSender sends through FCM HTTP v1: a JSON message per request,
// authorized by an OAuth2 access token the service account's key obtains
// (a JWT grant at its token_uri) and reuses until it expires. FCM has no
// batch endpoint any more: a batch's items go out as parallel single
// sends over one HTTP/2 client. It speaks the protocol itself rather than
// through the Firebase Admin SDK, whose root package links Cloud Storage,
// gRPC and xDS into the binary (docs/decisions/0011).
type fcmSender struct {
	s      *Service
	send1  string // the messages:send URL of the account's project
	tokens oauth2.TokenSource
	client *http.Client
}

var _ sender = (*fcmSender)(nil)

// newFCM builds the sender of a service account key.
func (s *Service) newFCM(ctx context.Context, serviceAccount []byte) (*fcmSender, error) {
	sa, err := parseServiceAccount(serviceAccount)
	if err != nil {
		return nil, err
	}
	conf, err := google.JWTConfigFromJSON(serviceAccount, fcmScope)
	if err != nil {
		return nil, fmt.Errorf("%w: the service account key: %v", ErrCredentials, err)
	}
	endpoint := fcmEndpoint
	if s.cfg.FCMURL != "" {
		endpoint = strings.TrimRight(s.cfg.FCMURL, "/")
	}
	client := &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}}
	// The token source outlives the call that built it: its fetches use
	// the sender's client, not ctx's deadline.
	tctx := context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, client)
	return &fcmSender{
		s:      s,
		send1:  endpoint + "/projects/" + url.PathEscape(sa.ProjectID) + "/messages:send",
		tokens: oauth2.ReuseTokenSource(nil, conf.TokenSource(tctx)),
		client: client,
	}, nil
}

// fcmMessage is an FCM HTTP v1 Message (the fields Skybridge sets).
type fcmMessage struct {
	Token        string            `json:"token,omitempty"`
	Topic        string            `json:"topic,omitempty"`
	Data         map[string]string `json:"data,omitempty"`
	Notification *fcmNotification  `json:"notification,omitempty"`
	Android      *fcmAndroid       `json:"android,omitempty"`
	Webpush      *fcmWebpush       `json:"webpush,omitempty"`
}

type fcmNotification struct {
	Title string `json:"title,omitempty"`
	Body  string `json:"body,omitempty"`
	Image string `json:"image,omitempty"`
}

type fcmAndroid struct {
	CollapseKey  string                  `json:"collapse_key,omitempty"`
	Priority     string                  `json:"priority,omitempty"`
	TTL          string                  `json:"ttl,omitempty"`
	Notification *fcmAndroidNotification `json:"notification,omitempty"`
}

type fcmAndroidNotification struct {
	Sound       string `json:"sound,omitempty"`
	ClickAction string `json:"click_action,omitempty"`
	ChannelID   string `json:"channel_id,omitempty"`
	Icon        string `json:"icon,omitempty"`
	Color       string `json:"color,omitempty"`
}

type fcmWebpush struct {
	Headers map[string]string `json:"headers,omitempty"`
}

// message builds the FCM message of one item.
func (f *fcmSender) message(m *outMessage) *fcmMessage {
	r := m.req
	n := r.Notification
	title, body := r.text(m.locale)
	data := map[string]string{messageIDKey: messageUUID(m.nid, m.instID)}
	for k, v := range r.dataStrings {
		data[k] = v
	}
	msg := &fcmMessage{Token: m.token, Data: data}
	if title != "" || body != "" || n.ImageURL != "" {
		msg.Notification = &fcmNotification{Title: title, Body: body, Image: n.ImageURL}
	}
	collapse := n.CollapseID
	if collapse == "" {
		collapse = m.nid
	}
	if m.platform == PlatformWeb {
		msg.Webpush = &fcmWebpush{Headers: map[string]string{"Topic": webTopic(collapse), "Urgency": urgency(n.Priority)}}
		if n.TTL > 0 {
			msg.Webpush.Headers["TTL"] = strconv.Itoa(n.TTL)
		}
		return msg
	}
	a := &fcmAndroid{CollapseKey: collapse, Priority: "high"}
	if n.Priority == "normal" {
		a.Priority = "normal"
	}
	if n.TTL > 0 {
		a.TTL = strconv.Itoa(n.TTL) + "s" // a protobuf Duration in JSON
	}
	if o := r.Android; o != nil || n.Sound != "" || n.Category != "" {
		an := &fcmAndroidNotification{Sound: n.Sound, ClickAction: n.Category}
		if o != nil {
			an.ChannelID, an.Icon, an.Color = o.ChannelID, o.Icon, o.Color
			if o.ClickAction != "" {
				an.ClickAction = o.ClickAction
			}
		}
		a.Notification = an
	}
	msg.Android = a
	return msg
}

// webTopic fits a collapse id into a Web Push Topic header (32 URL-safe
// characters).
func webTopic(s string) string {
	if len(s) <= 32 && !strings.ContainsAny(s, " /+=") {
		return s
	}
	return hashID(s)
}

func urgency(priority string) string {
	if priority == "normal" {
		return "normal"
	}
	return "high"
}

func (f *fcmSender) send(ctx context.Context, m *outMessage) result {
	return classifyFCM(f.post(ctx, f.message(m), false))
}

// fcmError is FCM's answer to a refused send: a google.rpc.Status with
// FCM's own error code among its details.
type fcmError struct {
	status     int    // HTTP status; 0 for a failure before any answer
	rpcStatus  string // "INVALID_ARGUMENT", "UNAUTHENTICATED" ...
	code       string // FCM's errorCode: "UNREGISTERED", "QUOTA_EXCEEDED" ...
	message    string
	retryAfter string
	err        error // the transport or token failure, when status is 0
}

func (e *fcmError) Error() string {
	if e.status == 0 {
		return "fcm: " + e.err.Error()
	}
	return fmt.Sprintf("fcm: %d %s %s: %s", e.status, e.rpcStatus, e.code, e.message)
}

func (e *fcmError) Unwrap() error { return e.err }

// post sends one message (validateOnly: FCM checks it and sends nothing).
func (f *fcmSender) post(ctx context.Context, msg *fcmMessage, validateOnly bool) error {
	tok, err := f.tokens.Token()
	if err != nil {
		return &fcmError{err: fmt.Errorf("oauth2 token: %w", err)}
	}
	body, err := json.Marshal(struct {
		ValidateOnly bool        `json:"validate_only,omitempty"`
		Message      *fcmMessage `json:"message"`
	}{validateOnly, msg})
	if err != nil {
		return &fcmError{err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.send1, bytes.NewReader(body))
	if err != nil {
		return &fcmError{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	tok.SetAuthHeader(req)
	resp, err := f.client.Do(req)
	if err != nil {
		return &fcmError{err: err}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	fe := &fcmError{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	var answer struct {
		Error struct {
			Message string `json:"message"`
			Status  string `json:"status"`
			Details []struct {
				Type      string `json:"@type"`
				ErrorCode string `json:"errorCode"`
			} `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(raw, &answer) == nil {
		fe.rpcStatus, fe.message = answer.Error.Status, answer.Error.Message
		for _, d := range answer.Error.Details {
			if strings.HasSuffix(d.Type, "google.firebase.fcm.v1.FcmError") {
				fe.code = d.ErrorCode
			}
		}
	}
	return fe
}

// classifyFCM sorts an FCM answer.
func classifyFCM(err error) result {
	if err == nil {
		return result{kind: resultSent}
	}
	var fe *fcmError
	if !errors.As(err, &fe) {
		return result{kind: resultRetry, reason: "Transport"}
	}
	ra := retryAfter(fe.retryAfter, time.Now())
	is := func(code string) bool { return fe.code == code || (fe.code == "" && fe.rpcStatus == code) }
	switch {
	case fe.status == 0:
		if strings.Contains(fe.err.Error(), "oauth2") {
			return result{kind: resultFail, reason: "AUTH", credentials: true}
		}
		return result{kind: resultRetry, reason: "Transport"}
	case is("UNREGISTERED") || (fe.status == http.StatusNotFound && fe.rpcStatus == "NOT_FOUND"):
		return result{kind: resultPrune, reason: "UNREGISTERED"}
	case is("INVALID_ARGUMENT") && strings.Contains(strings.ToLower(fe.message), "registration token"):
		// The token is malformed. Other invalid arguments are the
		// message's (an image URL ...): pruning on those would delete
		// every installation a bad send reaches.
		return result{kind: resultPrune, reason: "INVALID_ARGUMENT"}
	case is("INVALID_ARGUMENT"):
		return result{kind: resultFail, reason: "INVALID_ARGUMENT"}
	case is("QUOTA_EXCEEDED") || fe.status == http.StatusTooManyRequests:
		return result{kind: resultRetry, reason: "QUOTA_EXCEEDED", retryAfter: ra}
	case is("UNAVAILABLE") || is("INTERNAL") || fe.status >= 500:
		return result{kind: resultRetry, reason: "UNAVAILABLE", retryAfter: ra}
	case is("SENDER_ID_MISMATCH") || is("THIRD_PARTY_AUTH_ERROR") || fe.rpcStatus == "UNAUTHENTICATED" ||
		fe.rpcStatus == "PERMISSION_DENIED" || fe.status == http.StatusUnauthorized || fe.status == http.StatusForbidden:
		return result{kind: resultFail, reason: "AUTH", credentials: true}
	}
	return result{kind: resultFail, reason: "HTTP" + strconv.Itoa(fe.status)}
}

// check proves the service account with a validate-only send.
func (f *fcmSender) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, f.s.cfg.SendTimeout)
	defer cancel()
	err := f.post(ctx, &fcmMessage{Topic: "skybridge-credential-check", Data: map[string]string{"check": "1"}}, true)
	if err == nil {
		return nil
	}
	if r := classifyFCM(err); r.kind == resultRetry {
		return fmt.Errorf("%w: FCM could not be reached or kept failing (%s)", ErrCredentials, r.reason)
	}
	return fmt.Errorf("%w: FCM refused the service account: %v", ErrCredentials, err)
}
