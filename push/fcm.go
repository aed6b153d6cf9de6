package push

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	firebase "firebase.google.com/go/v4"
	"firebase.google.com/go/v4/errorutils"
	"firebase.google.com/go/v4/messaging"
	"google.golang.org/api/option"
)

// fcmSender sends through FCM HTTP v1. FCM has no batch endpoint any
// more: a batch's items go out as parallel single sends (what SendEach
// does), over the SDK's HTTP/2 client.
type fcmSender struct {
	s      *Service
	client *messaging.Client
}

var _ sender = (*fcmSender)(nil)

// newFCM builds the sender of a service account key.
func (s *Service) newFCM(ctx context.Context, serviceAccount []byte) (*fcmSender, error) {
	sa, err := parseServiceAccount(serviceAccount)
	if err != nil {
		return nil, err
	}
	opts := []option.ClientOption{option.WithAuthCredentialsJSON(option.ServiceAccount, serviceAccount)}
	if s.cfg.FCMURL != "" {
		opts = append(opts, option.WithEndpoint(strings.TrimRight(s.cfg.FCMURL, "/")))
	}
	app, err := firebase.NewApp(context.WithoutCancel(ctx), &firebase.Config{ProjectID: sa.ProjectID}, opts...)
	if err != nil {
		return nil, fmt.Errorf("firebase app: %w", err)
	}
	client, err := app.Messaging(context.WithoutCancel(ctx))
	if err != nil {
		return nil, fmt.Errorf("firebase messaging: %w", err)
	}
	return &fcmSender{s: s, client: client}, nil
}

// message builds the FCM message of one item.
func (f *fcmSender) message(m *outMessage) *messaging.Message {
	r := m.req
	n := r.Notification
	title, body := r.text(m.locale)
	data := map[string]string{messageIDKey: messageUUID(m.nid, m.instID)}
	for k, v := range r.dataStrings {
		data[k] = v
	}
	//lint:ignore SA1019 Token is the FCM registration token apps register; Fid (installation ids) is another kind of target.
	msg := &messaging.Message{Token: m.token, Data: data}
	if title != "" || body != "" || n.ImageURL != "" {
		msg.Notification = &messaging.Notification{Title: title, Body: body, ImageURL: n.ImageURL}
	}
	collapse := n.CollapseID
	if collapse == "" {
		collapse = m.nid
	}
	if m.platform == PlatformWeb {
		msg.Webpush = &messaging.WebpushConfig{Headers: map[string]string{"Topic": webTopic(collapse), "Urgency": urgency(n.Priority)}}
		if n.TTL > 0 {
			msg.Webpush.Headers["TTL"] = strconv.Itoa(n.TTL)
		}
		return msg
	}
	a := &messaging.AndroidConfig{CollapseKey: collapse, Priority: "high"}
	if n.Priority == "normal" {
		a.Priority = "normal"
	}
	if n.TTL > 0 {
		ttl := time.Duration(n.TTL) * time.Second
		a.TTL = &ttl
	}
	if o := r.Android; o != nil || n.Sound != "" || n.Category != "" {
		an := &messaging.AndroidNotification{Sound: n.Sound, ClickAction: n.Category}
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
	_, err := f.client.Send(ctx, f.message(m))
	return classifyFCM(err)
}

// classifyFCM sorts an FCM answer.
func classifyFCM(err error) result {
	if err == nil {
		return result{kind: resultSent}
	}
	var ra time.Duration
	status := 0
	if resp := errorutils.HTTPResponse(err); resp != nil {
		ra = retryAfter(resp.Header.Get("Retry-After"), time.Now())
		status = resp.StatusCode
	}
	switch {
	case messaging.IsUnregistered(err):
		return result{kind: resultPrune, reason: "UNREGISTERED"}
	case messaging.IsInvalidArgument(err) && strings.Contains(strings.ToLower(err.Error()), "registration token"):
		// The token is malformed. Other invalid arguments are the
		// message's (an image URL ...): pruning on those would delete
		// every installation a bad send reaches.
		return result{kind: resultPrune, reason: "INVALID_ARGUMENT"}
	case messaging.IsInvalidArgument(err):
		return result{kind: resultFail, reason: "INVALID_ARGUMENT"}
	case messaging.IsQuotaExceeded(err) || status == http.StatusTooManyRequests:
		return result{kind: resultRetry, reason: "QUOTA_EXCEEDED", retryAfter: ra}
	case messaging.IsUnavailable(err) || messaging.IsInternal(err) || status >= 500:
		return result{kind: resultRetry, reason: "UNAVAILABLE", retryAfter: ra}
	case messaging.IsSenderIDMismatch(err) || errorutils.IsUnauthenticated(err) || errorutils.IsPermissionDenied(err) || messaging.IsThirdPartyAuthError(err):
		return result{kind: resultFail, reason: "AUTH", credentials: true}
	case status == 0:
		if strings.Contains(err.Error(), "oauth2") {
			return result{kind: resultFail, reason: "AUTH", credentials: true}
		}
		return result{kind: resultRetry, reason: "Transport"}
	}
	return result{kind: resultFail, reason: "HTTP" + strconv.Itoa(status)}
}

// check proves the service account with a validate-only send.
func (f *fcmSender) check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, f.s.cfg.SendTimeout)
	defer cancel()
	_, err := f.client.SendDryRun(ctx, &messaging.Message{Topic: "skybridge-credential-check", Data: map[string]string{"check": "1"}})
	if err == nil {
		return nil
	}
	if r := classifyFCM(err); r.kind == resultRetry {
		return fmt.Errorf("%w: FCM could not be reached or kept failing (%s)", ErrCredentials, r.reason)
	}
	return fmt.Errorf("%w: FCM refused the service account: %v", ErrCredentials, err)
}
