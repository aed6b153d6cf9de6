package api

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/skybridgehq/skybridge/audit"
	"github.com/skybridgehq/skybridge/auth"
)

// Auditor keeps the audit trail; *audit.Service implements it.
type Auditor interface {
	Record(ctx context.Context, rec audit.Record) error
}

var _ Auditor = (*audit.Service)(nil)

type auditNoteKey struct{}

// auditNote collects, while a request runs, what the audit record says of
// its actor. The key, admin and user middleware fill it in; contexts only
// flow inwards, so the outer Audit middleware hands the inner ones this
// holder to write to.
type auditNote struct {
	app, env string
	actor    audit.Actor
}

// noteFrom returns the note of the Audit middleware the request passed
// through, or nil.
func noteFrom(ctx context.Context) *auditNote {
	if st := requestStateFrom(ctx); st != nil {
		if st.audited {
			return &st.note
		}
		return nil
	}
	n, _ := ctx.Value(auditNoteKey{}).(*auditNote)
	return n
}

// noteEnvironment records the app environment and, for a valid server key,
// the server actor.
func noteEnvironment(ctx context.Context, env auth.Environment, server bool) {
	if n := noteFrom(ctx); n != nil {
		n.app, n.env = env.AppID, env.Name
		if server {
			n.actor = audit.Actor{Kind: audit.ActorServer, ID: env.AppID + "/" + env.Name}
		}
	}
}

// noteAdmin records an admin actor.
func noteAdmin(ctx context.Context, c auth.AdminClaims) {
	if n := noteFrom(ctx); n != nil {
		n.actor = audit.Actor{Kind: audit.ActorAdmin, ID: c.AdminID}
	}
}

// noteDeployToken records a deploy token actor.
func noteDeployToken(ctx context.Context, t auth.DeployToken) {
	if n := noteFrom(ctx); n != nil {
		n.actor = audit.Actor{Kind: audit.ActorDeployToken, ID: t.ID}
	}
}

// noteUser records an app user actor (a server key, if also presented,
// stays the actor: it is the stronger credential).
func noteUser(ctx context.Context, u auth.User) {
	if n := noteFrom(ctx); n != nil && n.actor.Kind != audit.ActorServer {
		n.actor = audit.Actor{Kind: audit.ActorUser, ID: u.ID}
	}
}

// noteSession records the user a sign-in route signed in, and returns s.
func noteSession(r *http.Request, s auth.UserSession) auth.UserSession {
	noteUser(r.Context(), s.User)
	return s
}

// Audit writes one audit record for every /v1 and /admin/api request:
// time, app, environment, actor, app version and client, IP, method, route
// pattern, resource, action, status, latency and request id. It records no
// bodies, query strings, keys or tokens. It must run inside the chi router
// to see the route pattern. A nil auditor turns it into a no-op.
func Audit(a Auditor) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if a == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			prefix := auditedPrefix(r.URL.Path)
			if prefix == "" {
				next.ServeHTTP(w, r)
				return
			}
			start := requestStart(r)
			var note *auditNote
			if st := requestStateFrom(r.Context()); st != nil {
				// Behind RequestID (always, in New): the note lives in
				// its request state, no context value of its own.
				st.audited = true
				note = &st.note
			} else {
				note = &auditNote{}
				r = r.WithContext(context.WithValue(r.Context(), auditNoteKey{}, note))
			}
			note.actor = audit.Actor{Kind: audit.ActorAnonymous}
			ww := observe(w)
			defer func() {
				status := ww.Status()
				if status == 0 {
					status = http.StatusOK
				}
				route := routeLabel(r)
				// The record outlives the request; a cancelled request
				// context must not drop it.
				ctx := context.WithoutCancel(r.Context())
				_ = a.Record(ctx, audit.Record{
					Time:       start,
					App:        note.app,
					Env:        note.env,
					Actor:      note.actor,
					AppVersion: clip(r.Header.Get("X-App-Version"), 64),
					UserAgent:  clip(r.Header.Get("User-Agent"), 256),
					IP:         clientHost(r),
					Method:     r.Method,
					Route:      route,
					Resource:   clip(strings.Trim(strings.TrimPrefix(r.URL.Path, prefix), "/"), 512),
					Action:     actionOf(r.Method),
					Status:     status,
					LatencyMs:  float64(time.Since(start).Microseconds()) / 1000,
					RequestID:  RequestIDFrom(r.Context()),
				})
			}()
			next.ServeHTTP(ww, r)
		})
	}
}

// auditedPrefix returns the API prefix of an audited path, or "".
func auditedPrefix(path string) string {
	for _, p := range [...]string{"/v1", "/admin/api"} {
		if strings.HasPrefix(path, p) && (len(path) == len(p) || path[len(p)] == '/') {
			return p
		}
	}
	return ""
}

func actionOf(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead:
		return "read"
	case http.MethodPost:
		return "create"
	case http.MethodPut, http.MethodPatch:
		return "update"
	case http.MethodDelete:
		return "delete"
	}
	return strings.ToLower(method)
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
