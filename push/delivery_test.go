package push_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/push"
	"github.com/skybridgehq/skybridge/push/pushtest"
)

var uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestDeliveryToAPNsAndFCM(t *testing.T) {
	t.Parallel()
	r := newRig(t, push.Config{})
	r.credentials(t)
	var ios, android []string
	for i := range 3 {
		r.register(t, device{platform: push.PlatformIOS, token: iosToken(i), topics: []string{"news"}})
		ios = append(ios, iosToken(i))
	}
	for i := range 2 {
		r.register(t, device{platform: push.PlatformAndroid, token: fcmToken(i), topics: []string{"news", "sport"}})
		android = append(android, fcmToken(i))
	}
	r.register(t, device{platform: push.PlatformWeb, token: fcmToken(100), topics: []string{"news"}})
	r.register(t, device{platform: push.PlatformIOS, token: iosToken(50), topics: []string{"other"}})
	badge := 3
	id := r.send(t, push.SendRequest{
		Target:       push.Target{Topics: []string{"news"}},
		Notification: push.Notification{Title: "Hello", Body: "World", Badge: &badge, Data: map[string]any{"orderId": "o-1", "n": 2}},
	})
	st := r.waitDone(t, id)
	if st.Status != push.StatusDone || st.Counts.Targeted != 6 || st.Counts.Sent != 6 || st.Counts.Pruned != 0 || len(st.Counts.Failed) != 0 || st.Reason != "" {
		t.Fatalf("status %+v", st)
	}
	if st.Timing.QueuedAt == nil || st.Timing.FinishedAt == nil {
		t.Errorf("timing %+v", st.Timing)
	}
	for _, tok := range ios {
		if n := r.apns.Count(tok); n != 1 {
			t.Errorf("APNs token %s got %d requests", tok, n)
		}
		req, _ := r.apns.Last(tok)
		h := req.Headers
		if h["apns-topic"] != r.apns.BundleID || h["apns-push-type"] != "alert" || !uuidRe.MatchString(h["apns-id"]) || h["apns-collapse-id"] != id || h["apns-priority"] != "10" {
			t.Errorf("APNs headers %v", h)
		}
		aps, _ := req.Body["aps"].(map[string]any)
		alert, _ := aps["alert"].(map[string]any)
		if alert["title"] != "Hello" || alert["body"] != "World" || aps["badge"] != float64(3) || req.Body["orderId"] != "o-1" || req.Body["sbMessageId"] != h["apns-id"] {
			t.Errorf("APNs payload %v", req.Body)
		}
	}
	if n := r.apns.Count(iosToken(50)); n != 0 {
		t.Errorf("a token outside the topic got %d requests", n)
	}
	for _, tok := range append(android, fcmToken(100)) {
		if n := r.fcm.Count(tok); n != 1 {
			t.Errorf("FCM token %s got %d requests", tok, n)
		}
	}
	req, _ := r.fcm.Last(fcmToken(0))
	notif, _ := req.Body["notification"].(map[string]any)
	android0, _ := req.Body["android"].(map[string]any)
	data, _ := req.Body["data"].(map[string]any)
	if notif["title"] != "Hello" || android0["collapse_key"] != id || data["n"] != "2" || data["orderId"] != "o-1" {
		t.Errorf("FCM message %v", req.Body)
	}
	web, _ := r.fcm.Last(fcmToken(100))
	if web.Body["webpush"] == nil || web.Body["android"] != nil {
		t.Errorf("web message %v", web.Body)
	}
	if errs := append(r.apns.Errors(), r.fcm.Errors()...); len(errs) > 0 {
		t.Errorf("protocol errors: %v", errs)
	}
	if r.apns.ProviderTokens() != 1 {
		t.Errorf("%d provider tokens, want 1", r.apns.ProviderTokens())
	}
}

func TestDeadTokensArePruned(t *testing.T) {
	t.Parallel()
	r := newRig(t, push.Config{})
	r.credentials(t)
	r.apns.SetRule(iosToken(1), pushtest.Rule{Status: http.StatusGone, Reason: "Unregistered"})
	r.apns.SetRule(iosToken(2), pushtest.Rule{Status: http.StatusBadRequest, Reason: "BadDeviceToken"})
	r.fcm.SetRule(fcmToken(1), pushtest.Rule{Status: http.StatusNotFound, Reason: "UNREGISTERED"})
	r.fcm.SetRule(fcmToken(2), pushtest.Rule{Status: http.StatusBadRequest, Reason: "INVALID_ARGUMENT"})
	r.apns.SetRule(iosToken(3), pushtest.Rule{Status: http.StatusBadRequest, Reason: "PayloadTooLarge"})
	// An invalid argument that is not the token's fails without pruning.
	r.fcm.SetRule(fcmToken(3), pushtest.Rule{Status: http.StatusBadRequest, Reason: "INVALID_ARGUMENT", Message: "Invalid value at 'message.notification.image'"})
	ids := map[string]string{}
	for i := range 4 {
		ids[iosToken(i)] = r.register(t, device{platform: push.PlatformIOS, token: iosToken(i), topics: []string{"t"}}).ID
	}
	for i := range 4 {
		ids[fcmToken(i)] = r.register(t, device{platform: push.PlatformAndroid, token: fcmToken(i), topics: []string{"t"}}).ID
	}
	id := r.send(t, push.SendRequest{Target: push.Target{Topics: []string{"t"}}, Notification: push.Notification{Title: "x"}})
	st := r.waitDone(t, id)
	if st.Counts.Sent != 2 || st.Counts.Pruned != 4 || st.Counts.Failed["PayloadTooLarge"] != 1 || st.Counts.Failed["INVALID_ARGUMENT"] != 1 {
		t.Fatalf("status %+v", st)
	}
	for tok, want := range map[string]bool{iosToken(0): false, iosToken(1): true, iosToken(2): true, iosToken(3): false, fcmToken(0): false, fcmToken(1): true, fcmToken(2): true, fcmToken(3): false} {
		if got := gone(t, r, ids[tok]); got != want {
			t.Errorf("installation of %s pruned: %v, want %v", tok, got, want)
		}
	}
}

func TestRetriesHonourRetryAfterAndRetry5xx(t *testing.T) {
	t.Parallel()
	r := newRig(t, push.Config{MaxRetryBackoff: 10 * time.Second})
	r.credentials(t)
	r.apns.SetRule(iosToken(0), pushtest.Rule{Status: http.StatusServiceUnavailable, Reason: "ServiceUnavailable", Times: 2})
	r.apns.SetRule(iosToken(1), pushtest.Rule{Status: http.StatusInternalServerError, Reason: "InternalServerError", Times: 1})
	r.fcm.SetRule(fcmToken(0), pushtest.Rule{Status: http.StatusInternalServerError, Reason: "INTERNAL", Times: 1})
	// Retry-After beyond MaxRetryBackoff: the item waits in the queue
	// until then instead of holding the batch.
	r.apns.SetRule(iosToken(2), pushtest.Rule{Status: http.StatusTooManyRequests, Reason: "TooManyRequests", RetryAfter: "120", Times: 1})
	r.fcm.SetRule(fcmToken(1), pushtest.Rule{Status: http.StatusTooManyRequests, Reason: "QUOTA_EXCEEDED", RetryAfter: "3600", Times: 1})
	// A short Retry-After is waited out in the batch.
	r.apns.SetRule(iosToken(3), pushtest.Rule{Status: http.StatusTooManyRequests, Reason: "TooManyRequests", RetryAfter: "1", Times: 1})
	for i := range 4 {
		r.register(t, device{platform: push.PlatformIOS, token: iosToken(i), topics: []string{"t"}})
	}
	for i := range 2 {
		r.register(t, device{platform: push.PlatformAndroid, token: fcmToken(i), topics: []string{"t"}})
	}
	id := r.send(t, push.SendRequest{Target: push.Target{Topics: []string{"t"}}, Notification: push.Notification{Title: "x"}})
	st := r.waitStatus(t, id, "waiting for Retry-After", func(s push.Status) bool { return s.Counts.Sent == 4 && s.Counts.Pending == 2 })
	if st.Status != push.StatusSending {
		t.Errorf("status %+v", st)
	}
	for tok, want := range map[string]int{iosToken(0): 3, iosToken(1): 2, fcmToken(0): 2, iosToken(2): 1, fcmToken(1): 1, iosToken(3): 2} {
		n := r.apns.Count(tok)
		if strings.HasPrefix(tok, "fcm") {
			n = r.fcm.Count(tok)
		}
		if n != want {
			t.Errorf("%s: %d requests, want %d", tok, n, want)
		}
	}
	r.clock.advance(2 * time.Minute) // past APNs' Retry-After, not FCM's
	r.waitStatus(t, id, "retried after APNs' Retry-After", func(s push.Status) bool { return s.Counts.Sent == 5 && s.Counts.Pending == 1 })
	if n := r.fcm.Count(fcmToken(1)); n != 1 {
		t.Errorf("FCM token retried before its Retry-After: %d requests", n)
	}
	r.clock.advance(time.Hour)
	st = r.waitDone(t, id)
	if st.Status != push.StatusDone || st.Counts.Sent != 6 {
		t.Fatalf("status %+v", st)
	}
}

func TestMissingCredentialsExplainThemselves(t *testing.T) {
	t.Parallel()
	r := newRig(t, push.Config{})
	r.register(t, device{platform: push.PlatformIOS, token: iosToken(0), topics: []string{"t"}})
	id := r.send(t, push.SendRequest{Target: push.Target{Topics: []string{"t"}}, Notification: push.Notification{Title: "x"}})
	st := r.waitDone(t, id)
	if st.Status != push.StatusFailed || st.Counts.Failed["NoCredentials"] != 1 || !strings.Contains(st.Reason, "APNs credentials are not configured for environment dev") {
		t.Fatalf("status %+v", st)
	}
}
