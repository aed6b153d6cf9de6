package soap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"

	"github.com/skybridgehq/skybridge/connectors"
	"github.com/skybridgehq/skybridge/connectors/internal/confmap"
)

// fail builds a call's *connectors.Error and logs it at debug level (the
// engine reports step failures; this log says what the connector saw).
// msg must already be free of secrets.
func (c *Connector) fail(ctx context.Context, op string, kind connectors.ErrorKind, status int, body any, msg string, cause error) *connectors.Error {
	if c.logger.Enabled(ctx, slog.LevelDebug) {
		c.logger.LogAttrs(ctx, slog.LevelDebug, "connector call failed",
			slog.String("operation", op), slog.String("kind", string(kind)),
			slog.Int("status", status), slog.String("message", msg))
	}
	return &connectors.Error{Connector: c.name, Operation: op, Kind: kind, Status: status, Body: body, Message: msg, Err: cause}
}

// redact replaces the connector's credentials in s.
func (c *Connector) redact(s string) string { return c.redactor.Replace(s) }

// transportFailure classifies a failed exchange: a passed deadline or a
// cancelled call is KindTimeout, anything else (dial, reset, TLS)
// KindUnavailable. The *url.Error wrapper is dropped: it quotes the
// endpoint, which may carry a secret in its query.
func (c *Connector) transportFailure(ctx context.Context, o *operation, what string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()):
		return c.fail(ctx, o.name, connectors.KindTimeout, 0, nil,
			fmt.Sprintf("operation %s: no answer before the deadline (config.timeout %s or the caller's, whichever is sooner) while %s", o.name, c.s.timeout, what),
			errors.Join(context.DeadlineExceeded, err))
	case errors.Is(ctx.Err(), context.Canceled) || errors.Is(err, context.Canceled):
		return c.fail(ctx, o.name, connectors.KindTimeout, 0, nil,
			fmt.Sprintf("operation %s: call cancelled while %s", o.name, what), errors.Join(context.Canceled, err))
	}
	return c.fail(ctx, o.name, connectors.KindUnavailable, 0, nil,
		fmt.Sprintf("operation %s: %s failed: %s", o.name, what, c.redact(err.Error())), err)
}

func (c *Connector) tooLarge(ctx context.Context, o *operation) error {
	return c.fail(ctx, o.name, connectors.KindBadResponse, 0, nil,
		fmt.Sprintf("operation %s: answer larger than config.maxResponseBytes (%d bytes)", o.name, c.s.maxResponseBytes), nil)
}

// scrub returns a failure's body with the connector's credentials
// replaced: a system that echoes what it got must not pass them on to a
// flow's error handling.
func (c *Connector) scrub(v any) any {
	switch t := v.(type) {
	case string:
		return c.redactor.Replace(t)
	case map[string]any:
		for k, e := range t {
			t[k] = c.scrub(e)
		}
	case []any:
		for i, e := range t {
			t[i] = c.scrub(e)
		}
	}
	return v
}

// scalarText is a header value's text.
func scalarText(v any) (string, bool) { return confmap.Scalar(v) }
