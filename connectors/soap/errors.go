package soap

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/skybridgehq/skybridge/connectors"
	"github.com/skybridgehq/skybridge/connectors/internal/confmap"
	"github.com/skybridgehq/skybridge/connectors/internal/conncore"
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
	outcome, cause := conncore.TransportOutcome(ctx, err)
	switch outcome {
	case conncore.TimedOut:
		return c.fail(ctx, o.name, connectors.KindTimeout, 0, nil,
			fmt.Sprintf("%s: no answer before the deadline (config.timeout %s or the caller's, whichever is sooner) while %s", "operation "+o.name, c.s.timeout, what), cause)
	case conncore.Cancelled:
		return c.fail(ctx, o.name, connectors.KindTimeout, 0, nil,
			fmt.Sprintf("%s: call cancelled while %s", "operation "+o.name, what), cause)
	}
	return c.fail(ctx, o.name, connectors.KindUnavailable, 0, nil,
		fmt.Sprintf("%s: %s failed: %s", "operation "+o.name, what, c.redact(cause.Error())), cause)
}

func (c *Connector) tooLarge(ctx context.Context, o *operation) error {
	return c.fail(ctx, o.name, connectors.KindBadResponse, 0, nil,
		fmt.Sprintf("operation %s: answer larger than config.maxResponseBytes (%d bytes)", o.name, c.s.maxResponseBytes), nil)
}

// scrub returns a failure's body with the connector's credentials
// replaced: a system that echoes what it got must not pass them on to a
// flow's error handling.
func (c *Connector) scrub(v any) any { return conncore.Scrub(v, c.redactor) }

// scalarText is a header value's text.
func scalarText(v any) (string, bool) { return confmap.Scalar(v) }
