package conncore

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestTransportOutcome(t *testing.T) {
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	gone, stop := context.WithCancel(context.Background())
	stop()
	dial := &url.Error{Op: "Get", URL: "https://h/?apiKey=secret", Err: errors.New("connection refused")}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want Outcome
		is   error
	}{
		{"deadline", expired, dial, TimedOut, context.DeadlineExceeded},
		{"cancelled", gone, dial, Cancelled, context.Canceled},
		{"refused", context.Background(), dial, Unavailable, nil},
	} {
		got, cause := TransportOutcome(tc.ctx, tc.err)
		if got != tc.want || (tc.is != nil && !errors.Is(cause, tc.is)) {
			t.Errorf("%s: %v, %v", tc.name, got, cause)
		}
		if strings.Contains(cause.Error(), "secret") {
			t.Errorf("%s: the cause quotes the URL: %v", tc.name, cause)
		}
	}
}

func TestScrub(t *testing.T) {
	r := strings.NewReplacer("pw1", "[redacted]")
	v := map[string]any{"a": "user pw1", "b": []any{"tok-9 here", 3.0}}
	Scrub(v, r, "tok-9", "")
	if v["a"] != "user [redacted]" || v["b"].([]any)[0] != "[redacted] here" || v["b"].([]any)[1] != 3.0 {
		t.Fatalf("scrubbed: %v", v)
	}
}
