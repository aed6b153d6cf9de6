package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/analytics"
)

// bindAnalytics binds POST /v1/analytics/events: batched custom events
// from app SDKs, behind the app key (and the user session middleware: an
// access token, when present, counts towards distinct users).
func (a *API) bindAnalytics(keyed chi.Router, spec *apiSpec) {
	keyed.Post("/analytics/events", a.ingestAnalytics)
	describeAnalytics(spec)
}

// bindAnalyticsAdmin binds the dashboard query and the retention settings
// of an environment's analytics.
func (a *API) bindAnalyticsAdmin(g chi.Router, spec *apiSpec) {
	const path = "/apps/{id}/environments/{env}/analytics"
	g.Get(path, a.queryAnalytics)
	g.Get(path+"/settings", a.getAnalyticsSettings)
	g.Put(path+"/settings", a.putAnalyticsSettings)
	describeAnalyticsAdmin(spec, "/admin/api"+path)
}

// ingestAnalytics stores one batch whole, or nothing: 202 with the
// accepted and dropped counts, 200 with duplicate for a batch id seen
// before, 400 naming the fields of a bad batch, 413 past the body limit.
func (a *API) ingestAnalytics(w http.ResponseWriter, r *http.Request) {
	db := DBFrom(r.Context())
	if db == nil {
		a.fail(w, r, errors.New("api: analytics route outside the app-key middleware"))
		return
	}
	limit := a.deps.Analytics.Config().MaxBodyBytes
	if r.ContentLength > limit {
		a.fail(w, r, fmt.Errorf("%w: %d bytes sent, the limit of an analytics batch is %d", ErrBodyTooLarge, r.ContentLength, limit))
		return
	}
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
	}
	var b analytics.Batch
	if err := decodeJSON(r, &b); err != nil {
		a.fail(w, r, err)
		return
	}
	userID := ""
	if u, ok := UserFrom(r.Context()); ok {
		userID = u.ID
	}
	res, err := a.deps.Analytics.Ingest(r.Context(), db, b, userID)
	if err != nil {
		a.fail(w, r, analyticsFields(err))
		return
	}
	status := http.StatusAccepted
	if res.Duplicate {
		status = http.StatusOK
	}
	a.respond(w, r, status, res)
}

func (a *API) queryAnalytics(w http.ResponseWriter, r *http.Request) {
	env, db, err := a.adminEnvironment(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	noteEnvironment(r.Context(), env, false)
	q, err := analytics.ParseQuery(r.URL.Query(), a.deps.Analytics.Config().Now())
	if err != nil {
		a.fail(w, r, analyticsFields(err))
		return
	}
	rep, err := a.deps.Analytics.Query(r.Context(), db, q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, rep)
}

func (a *API) getAnalyticsSettings(w http.ResponseWriter, r *http.Request) {
	env, db, err := a.adminEnvironment(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	noteEnvironment(r.Context(), env, false)
	st, err := a.deps.Analytics.Settings(r.Context(), db)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, st)
}

func (a *API) putAnalyticsSettings(w http.ResponseWriter, r *http.Request) {
	var st analytics.Settings
	if err := decodeJSON(r, &st); err != nil {
		a.fail(w, r, err)
		return
	}
	env, db, err := a.adminEnvironment(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	noteEnvironment(r.Context(), env, false)
	if err := a.deps.Analytics.SetSettings(r.Context(), db, st); err != nil {
		a.fail(w, r, analyticsFields(err))
		return
	}
	a.respond(w, r, http.StatusOK, st)
}

// analyticsFields attributes the analytics package's field faults to
// their request fields, so that the problem lists them in errors[].
func analyticsFields(err error) error {
	var fe *analytics.FieldError
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		inner := e.Unwrap()
		out := make([]error, len(inner))
		for i, x := range inner {
			out[i] = analyticsFields(x)
		}
		return errors.Join(out...)
	default:
		if errors.As(err, &fe) {
			return onField(fe.Field, fmt.Errorf("%w: %s", analytics.ErrInvalid, fe.Reason))
		}
	}
	return err
}
