package server

import (
	"context"
	"log/slog"
	// Time zones of trigger schedules work without the system's zone
	// files (containers often have none).
	_ "time/tzdata"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/events"
	"github.com/skybridgehq/skybridge/orchestration/deploy"
	"github.com/skybridgehq/skybridge/orchestration/trigger"
	"github.com/skybridgehq/skybridge/store"
)

// newTriggers builds the node's trigger runtime over the live plans of
// every app environment (see package trigger).
func newTriggers(cfg Config, sys store.DB, stores store.Provider, plans *deploy.Service, a *auth.Service, bus *events.Bus, reg prometheus.Registerer, log *slog.Logger) *trigger.Service {
	envs := func(ctx context.Context) ([]trigger.Env, error) {
		apps, err := a.ListApps(ctx)
		if err != nil {
			return nil, err
		}
		var out []trigger.Env
		for _, app := range apps {
			for _, e := range app.Environments {
				out = append(out, trigger.Env{AppID: e.AppID, Name: e.Name, DB: e.DB})
			}
		}
		return out, nil
	}
	return trigger.New(sys, stores, plans, envs, trigger.Config{
		PollInterval: cfg.TriggerPollInterval,
		Lease:        cfg.TriggerLease,
		Bus:          bus,
		Registerer:   reg,
		Logger:       log.With("component", "triggers"),
	})
}
