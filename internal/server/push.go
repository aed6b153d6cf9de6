package server

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skybridgehq/skybridge/dashboard"
	"github.com/skybridgehq/skybridge/keyring"
	"github.com/skybridgehq/skybridge/orchestration"
	"github.com/skybridgehq/skybridge/push"
	"github.com/skybridgehq/skybridge/store"
)

// newPush builds the node's push service from the SKYBRIDGE_PUSH_* keys;
// every message sent counts on the dashboard.
func newPush(cfg Config, sys store.DB, stores store.Provider, keys *keyring.Keyring, reg prometheus.Registerer, log *slog.Logger, dash *dashboard.Recorder) (*push.Service, error) {
	pc := push.Config{
		Workers: cfg.PushWorkers, Concurrency: cfg.PushConcurrency, Lease: cfg.PushLease, PollInterval: cfg.PushPollInterval,
		RatePerApp: float64(cfg.PushRatePerApp), APNsURL: cfg.PushAPNsURL, FCMURL: cfg.PushFCMURL,
		Registerer: reg, Logger: log.With("component", "push"),
		OnSent: func(env push.Env) { dash.Pushes(env.AppID, env.Name, 1) },
	}
	if cfg.PushAPNsCAFile != "" {
		pem, err := os.ReadFile(cfg.PushAPNsCAFile)
		if err != nil {
			return nil, fmt.Errorf("SKYBRIDGE_PUSH_APNS_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("SKYBRIDGE_PUSH_APNS_CA_FILE: no PEM certificate in the file")
		}
		pc.APNsRootCAs = pool
	}
	return push.New(sys, stores, keys, pc), nil
}

// flowPusher is a flow's view of the push service: the `push` steps of
// one environment's plan (orchestration.Pusher).
type flowPusher struct {
	svc *push.Service
	env push.Env
}

var _ orchestration.Pusher = flowPusher{}

// Push queues the notification a push step describes.
func (p flowPusher) Push(ctx context.Context, request map[string]any) (string, error) {
	raw, err := json.Marshal(request)
	if err != nil {
		return "", fmt.Errorf("encode the push request: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var req push.SendRequest
	if err := dec.Decode(&req); err != nil {
		return "", fmt.Errorf("%w: %v", push.ErrInvalid, err)
	}
	return p.svc.Send(ctx, p.env, req)
}
