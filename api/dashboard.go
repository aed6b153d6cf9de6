package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/dashboard"
)

// bindDashboard binds the live dashboard of an environment: request
// velocity by route and app version, errors, latency, cache hits,
// connected devices and pushes sent, over the last minutes.
func (a *API) bindDashboard(g chi.Router, spec *apiSpec) {
	const path = "/apps/{id}/environments/{env}/dashboard"
	g.Get(path, a.getDashboard)
	describeDashboard(spec, "/admin/api"+path)
}

// Dashboard windows, in minutes.
const (
	defaultDashboardMinutes = 60
	maxDashboardMinutes     = 24 * 60
)

// getDashboard serves GET .../dashboard?minutes=60: every node's traffic
// of the environment over the window, the open minute last, and the
// devices connected now (to this node's broker).
func (a *API) getDashboard(w http.ResponseWriter, r *http.Request) {
	minutes, err := dashboardMinutes(r.URL.Query().Get("minutes"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	env, err := a.auditedAdminEnv(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	rep, err := a.deps.Dashboard.Report(r.Context(), env.AppID, env.Name, minutes)
	if errors.Is(err, dashboard.ErrInvalid) {
		err = onField("minutes", fmt.Errorf("%w: %v", ErrInvalidInput, err))
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if a.deps.Devices != nil {
		n, err := a.deps.Devices.Connected(r.Context(), env.AppID, env.Name)
		if err != nil {
			a.fail(w, r, fmt.Errorf("count the connected devices: %w", err))
			return
		}
		rep.Totals.ConnectedDevices = int64(n)
	}
	a.respond(w, r, http.StatusOK, rep)
}

// dashboardMinutes parses the minutes parameter: 1 to 1440, default 60.
func dashboardMinutes(v string) (int, error) {
	if v == "" {
		return defaultDashboardMinutes, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maxDashboardMinutes {
		return 0, onField("minutes", fmt.Errorf("%w: want an integer from 1 to %d", ErrInvalidInput, maxDashboardMinutes))
	}
	return n, nil
}

// recordDashboard is the request path's one call into the dashboard: it
// records a /v1 request that presented an app key (others, the admin API
// included, are not an app's traffic). It runs in the metrics middleware
// once the request is served, and allocates nothing.
func recordDashboard(rec *dashboard.Recorder, r *http.Request, w http.ResponseWriter, method, route string, status int, start time.Time, d time.Duration) {
	k := keyedFrom(r.Context())
	if k == nil || !strings.HasPrefix(route, "/v1/") {
		return // not keyed, or an admin's call through adminv1.go
	}
	c := dashboard.Call{
		App: k.env.AppID, Env: k.env.Name, Method: method, Route: route,
		Version: r.Header.Get(AppVersionHeader), Status: status,
		End: start.Add(d), Duration: d, Cache: cacheOutcome(w.Header()),
	}
	rec.Request(&c)
}

// cacheOutcome reads the X-Skybridge-Cache answer: a stale answer was
// served from the cache too.
func cacheOutcome(h http.Header) dashboard.CacheOutcome {
	v := h[CacheHeader]
	if len(v) == 0 {
		return dashboard.CacheNone
	}
	switch v[0] {
	case "hit", "stale":
		return dashboard.CacheHit
	case "miss":
		return dashboard.CacheMiss
	}
	return dashboard.CacheNone
}
