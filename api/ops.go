package api

import (
	"context"
	"log/slog"
	"net/http"
	"sync"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// bindOps binds the operations endpoints: liveness, readiness and metrics.
// None needs a key: they are for load balancers, orchestrators and
// Prometheus.
func (a *API) bindOps(r chi.Router, spec *apiSpec) {
	r.Get("/healthz", a.healthz)
	r.Get("/readyz", a.readyz)
	r.Method(http.MethodGet, "/metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelError),
		Registry: a.reg,
	}))

	spec.schema("Health", object(map[string]any{
		"status": enumOf("ok"),
	}, "status"))
	spec.schema("Readiness", object(map[string]any{
		"status": enumOf(readyOK, readyDegraded, readyUnavailable),
		"components": map[string]any{
			"type":                 "object",
			"additionalProperties": ref("Component"),
		},
	}, "status", "components"))
	spec.schema("Component", object(map[string]any{
		"kind":     str("The implementation, e.g. sqlite, mongo, memory, redis."),
		"status":   enumOf(readyOK, readyUnavailable),
		"required": boolean("Whether a failure of this component fails readiness."),
	}, "kind", "status", "required"))
	spec.route(http.MethodGet, "/healthz", operation{
		ID: "getHealth", Tag: "ops", Summary: "Liveness: the process is up. Never touches the store.",
		Responses: []response{{Status: 200, Description: "Alive.", Schema: "Health"}},
	})
	spec.route(http.MethodGet, "/readyz", operation{
		ID: "getReadiness", Tag: "ops", Summary: "Readiness: each component (store, cache ...) is checked concurrently with a short timeout.",
		Responses: []response{
			{Status: 200, Description: "Ready; status is degraded when an optional component fails.", Schema: "Readiness"},
			{Status: 503, Description: "A required component fails.", Schema: "Readiness"},
		},
	})
	spec.route(http.MethodGet, "/metrics", operation{
		ID: "getMetrics", Tag: "ops", Summary: "Prometheus metrics in the text exposition format.",
		Responses: []response{{Status: 200, Description: "Metrics.", ContentType: "text/plain", Schema: ""}},
	})
}

// healthz is liveness: it answers as long as the process serves HTTP.
func (a *API) healthz(w http.ResponseWriter, r *http.Request) {
	a.respond(w, r, http.StatusOK, map[string]string{"status": "ok"})
}

// Readiness states.
const (
	readyOK          = "ok"
	readyDegraded    = "degraded"
	readyUnavailable = "unavailable"
)

type componentStatus struct {
	Kind     string `json:"kind"`
	Status   string `json:"status"`
	Required bool   `json:"required"`
}

type readiness struct {
	Status     string                     `json:"status"`
	Components map[string]componentStatus `json:"components"`
}

// readyz runs every check at once, each under ReadyTimeout, and answers
// 503 when a required one fails. Failure causes go to the log, not to the
// (unauthenticated) client.
func (a *API) readyz(w http.ResponseWriter, r *http.Request) {
	errs := make([]error, len(a.deps.Checks))
	var wg sync.WaitGroup
	for i, c := range a.deps.Checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), a.cfg.ReadyTimeout)
			defer cancel()
			errs[i] = c.Ping(ctx)
		})
	}
	wg.Wait()

	out := readiness{Status: readyOK, Components: make(map[string]componentStatus, len(a.deps.Checks))}
	for i, c := range a.deps.Checks {
		st := componentStatus{Kind: c.Kind, Status: readyOK, Required: c.Required}
		if errs[i] != nil {
			st.Status = readyUnavailable
			a.log.LogAttrs(r.Context(), slog.LevelWarn, "readiness check failed",
				slog.String("check", c.Name), slog.String("kind", c.Kind),
				slog.Bool("required", c.Required), slog.String("error", errs[i].Error()))
			switch {
			case c.Required:
				out.Status = readyUnavailable
			case out.Status == readyOK:
				out.Status = readyDegraded
			}
		}
		out.Components[c.Name] = st
	}
	status := http.StatusOK
	if out.Status == readyUnavailable {
		status = http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	a.respond(w, r, status, out)
}
