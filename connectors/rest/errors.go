package rest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/skybridgehq/skybridge/connectors"
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

// transportFailure classifies a failed exchange: a passed deadline is
// KindTimeout, a cancelled call KindTimeout too (it ended before an
// answer), anything else (dial, reset, TLS) KindUnavailable. The
// *url.Error wrapper is dropped: it quotes the URL, which may carry an
// apiKey.
func (c *Connector) transportFailure(ctx context.Context, o *operation, what string, err error) error {
	outcome, cause := conncore.TransportOutcome(ctx, err)
	switch outcome {
	case conncore.TimedOut:
		return c.fail(ctx, o.name, connectors.KindTimeout, 0, nil,
			fmt.Sprintf("%s: no answer before the deadline (config.timeout %s or the caller's, whichever is sooner) while %s", o.label, c.s.timeout, what), cause)
	case conncore.Cancelled:
		return c.fail(ctx, o.name, connectors.KindTimeout, 0, nil,
			fmt.Sprintf("%s: call cancelled while %s", o.label, what), cause)
	}
	return c.fail(ctx, o.name, connectors.KindUnavailable, 0, nil,
		fmt.Sprintf("%s: %s failed: %s", o.label, what, c.redact(cause.Error())), cause)
}

// tokenFailure classifies a failed OAuth2 token fetch. An endpoint that
// answered is KindStatus with its status (401 for refused client
// credentials, retryable for 429 and 5xx); one that could not be reached is
// timed out or unavailable like a call.
func (c *Connector) tokenFailure(ctx context.Context, o *operation, err error) error {
	var tf *tokenFailure
	if errors.As(err, &tf) && tf.status != 0 {
		c.logger.Warn("connector OAuth2 token fetch refused", "status", tf.status, "error", tf.code)
		return c.fail(ctx, o.name, connectors.KindStatus, tf.status, nil,
			fmt.Sprintf("%s: OAuth2 %s", o.label, tf.Error()), err)
	}
	if errors.As(err, &tf) && tf.cause != nil {
		err = tf.cause
	}
	c.logger.Warn("connector OAuth2 token fetch failed", "error", c.redact(err.Error()))
	return c.transportFailure(ctx, o, "fetching the OAuth2 token", err)
}

func (c *Connector) tooLarge(ctx context.Context, o *operation) error {
	return c.fail(ctx, o.name, connectors.KindBadResponse, 0, nil,
		fmt.Sprintf("%s: answer larger than config.maxResponseBytes (%d bytes)", o.label, c.s.maxResponseBytes), nil)
}

// scrub returns a failure's decoded body with the connector's credentials
// (and the OAuth2 access token of the call) replaced: a system that echoes
// what it got must not pass them on to a flow's error handling.
func (c *Connector) scrub(v any, token string) any { return conncore.Scrub(v, c.redactor, token) }
