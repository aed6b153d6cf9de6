package api

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/auth"
)

// adminRouter is the admin API under /admin/api: login, then apps,
// environments and keys with an admin token.
func (a *API) adminRouter(spec *apiSpec) chi.Router {
	adm := chi.NewRouter()
	adm.Use(NoStore)
	// Unknown admin routes ask for a token first, as /v1 asks for a key.
	adm.NotFound(markUnmatched(a.adminAuth(http.HandlerFunc(a.notFound))))
	adm.MethodNotAllowed(markUnmatched(http.HandlerFunc(a.methodNotAllowed)))
	adm.Post("/login", a.adminLogin)
	adm.Group(func(g chi.Router) {
		g.Use(a.adminAuth)
		g.Get("/apps", a.listApps)
		g.Post("/apps", a.createApp)
		g.Get("/apps/{id}", a.getApp)
		g.Post("/apps/{id}/environments", a.addEnvironment)
		g.Post("/apps/{id}/environments/{env}/keys/rotate", a.rotateKey)
		a.bindAudit(g, spec)
		a.bindAppVersionsAdmin(g, spec)
		a.bindAdminAccounts(g, spec)
		a.bindAdminUsers(g, spec)
		a.bindOIDCAdmin(g, spec)
		a.bindMailAdmin(g, spec)
		a.bindRateLimitAdmin(g, spec)
		if a.deps.Objects != nil {
			a.bindCollectionsAdmin(g, spec)
			if a.deps.Sync != nil {
				a.bindSyncAdmin(g, spec)
			}
		}
		if a.deps.Cache != nil {
			a.bindCacheAdmin(g, spec)
		}
		if a.deps.Push != nil {
			a.bindPushAdmin(g, spec)
		}
		if a.deps.Devices != nil {
			a.bindDeviceCertsAdmin(g, spec)
		}
		if a.deps.Deployments != nil {
			a.bindDeployments(g, spec)
			a.bindDeploymentFiles(g, spec)
			a.bindFlowsAdmin(g, spec)
		}
		if a.deps.Analytics != nil {
			a.bindAnalyticsAdmin(g, spec)
		}
		if a.deps.Dashboard != nil {
			a.bindDashboard(g, spec)
		}
		a.bindAdminV1(g, spec)
		if a.deps.Devices != nil {
			a.bindTelemetryAdmin(g, spec)
		}
	})
	describeAdmin(spec)
	return adm
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type loginResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// adminLogin trades an admin's email and password for an admin token.
// Failed attempts are counted per email and client address; past
// Config.LoginFailures within Config.LoginWindow the answer is a 429.
func (a *API) adminLogin(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := errors.Join(required("email", req.Email), required("password", req.Password)); err != nil {
		a.fail(w, r, err)
		return
	}
	key := strings.ToLower(strings.TrimSpace(req.Email)) + "|" + clientHost(r)
	if wait := a.logins.wait(key); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		a.fail(w, r, fmt.Errorf("%w: too many failed logins for this email; retry in %s", ErrTooManyRequests, wait.Round(time.Second)))
		return
	}
	token, err := a.deps.Auth.AdminLogin(r.Context(), req.Email, req.Password)
	switch {
	case errors.Is(err, auth.ErrBadCredentials):
		a.logins.failed(key)
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer realm=%q", adminRealm))
		a.fail(w, r, err)
		return
	case errors.Is(err, auth.ErrInvalid):
		a.fail(w, r, onField("email", err))
		return
	case err != nil:
		a.fail(w, r, err)
		return
	}
	a.logins.succeeded(key)
	claims, err := a.deps.Auth.VerifyAdminToken(r.Context(), token)
	if err != nil {
		a.fail(w, r, fmt.Errorf("verify the new admin token: %w", err))
		return
	}
	a.respond(w, r, http.StatusOK, loginResponse{Token: token, ExpiresAt: claims.ExpiresAt.UTC()})
}

// appJSON is an app as the admin API shows it: never with server keys.
type appJSON struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	CreatedAt    time.Time `json:"createdAt"`
	Environments []envJSON `json:"environments"`
}

type envJSON struct {
	Name      string    `json:"name"`
	AppKey    string    `json:"appKey"`
	CreatedAt time.Time `json:"createdAt"`
}

// createdAppJSON is a new app with the server keys of its environments,
// shown this once.
type createdAppJSON struct {
	ID           string        `json:"id"`
	Name         string        `json:"name"`
	CreatedAt    time.Time     `json:"createdAt"`
	Environments []envKeysJSON `json:"environments"`
}

type envKeysJSON struct {
	Name      string `json:"name"`
	AppKey    string `json:"appKey"`
	ServerKey string `json:"serverKey"`
}

type rotatedKeyJSON struct {
	Key                string    `json:"key"`
	AppKey             string    `json:"appKey,omitempty"`
	ServerKey          string    `json:"serverKey,omitempty"`
	PreviousValidUntil time.Time `json:"previousValidUntil"`
}

func toAppJSON(app auth.App) appJSON {
	out := appJSON{ID: app.ID, Name: app.Name, CreatedAt: app.CreatedAt.UTC(), Environments: make([]envJSON, 0, len(app.Environments))}
	for _, e := range app.Environments {
		out.Environments = append(out.Environments, envJSON{Name: e.Name, AppKey: e.AppKey, CreatedAt: e.CreatedAt.UTC()})
	}
	return out
}

func toEnvKeysJSON(e auth.EnvironmentKeys) envKeysJSON {
	return envKeysJSON{Name: e.Name, AppKey: e.AppKey, ServerKey: e.ServerKey}
}

func (a *API) listApps(w http.ResponseWriter, r *http.Request) {
	apps, err := a.deps.Auth.ListApps(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	items := make([]appJSON, 0, len(apps))
	for _, app := range apps {
		items = append(items, toAppJSON(app))
	}
	a.respond(w, r, http.StatusOK, map[string]any{"items": items})
}

type nameRequest struct {
	Name string `json:"name"`
}

func (a *API) createApp(w http.ResponseWriter, r *http.Request) {
	var req nameRequest
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	app, err := a.deps.Auth.CreateApp(r.Context(), req.Name)
	if errors.Is(err, auth.ErrInvalid) {
		err = onField("name", err)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := createdAppJSON{ID: app.ID, Name: app.Name, CreatedAt: app.CreatedAt.UTC(), Environments: make([]envKeysJSON, 0, len(app.Environments))}
	for _, e := range app.Environments {
		out.Environments = append(out.Environments, toEnvKeysJSON(e))
	}
	w.Header().Set("Location", "/admin/api/apps/"+url.PathEscape(app.ID))
	a.respond(w, r, http.StatusCreated, out)
}

func (a *API) getApp(w http.ResponseWriter, r *http.Request) {
	app, err := a.deps.Auth.GetApp(r.Context(), pathParam(r, "id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, toAppJSON(app))
}

func (a *API) addEnvironment(w http.ResponseWriter, r *http.Request) {
	var req nameRequest
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	env, err := a.deps.Auth.AddEnvironment(r.Context(), pathParam(r, "id"), req.Name)
	if errors.Is(err, auth.ErrInvalid) || errors.Is(err, auth.ErrExists) {
		err = onField("name", err)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusCreated, toEnvKeysJSON(env))
}

type rotateRequest struct {
	Key          string `json:"key"`
	GraceSeconds int64  `json:"graceSeconds"`
}

func (a *API) rotateKey(w http.ResponseWriter, r *http.Request) {
	var req rotateRequest
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	var errs []error
	if req.Key != auth.KeyApp && req.Key != auth.KeyServer {
		errs = append(errs, onField("key", fmt.Errorf("%w: must be %q or %q", ErrInvalidInput, auth.KeyApp, auth.KeyServer)))
	}
	maxGrace := int64(auth.MaxRotationGrace / time.Second)
	if req.GraceSeconds < 0 || req.GraceSeconds > maxGrace {
		errs = append(errs, onField("graceSeconds", fmt.Errorf("%w: must be 0 to %d", ErrInvalidInput, maxGrace)))
	}
	if err := errors.Join(errs...); err != nil {
		a.fail(w, r, err)
		return
	}
	rk, err := a.deps.Auth.RotateKey(r.Context(), pathParam(r, "id"), pathParam(r, "env"), req.Key, time.Duration(req.GraceSeconds)*time.Second)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := rotatedKeyJSON{Key: rk.Key, PreviousValidUntil: rk.OldKeyValidUntil.UTC()}
	if rk.Key == auth.KeyApp {
		out.AppKey = rk.NewKey
	} else {
		out.ServerKey = rk.NewKey
	}
	a.respond(w, r, http.StatusOK, out)
}

// required refuses an empty string field.
func required(field, v string) error {
	if strings.TrimSpace(v) == "" {
		return onField(field, fmt.Errorf("%w: is required", ErrInvalidInput))
	}
	return nil
}

// clientHost is the address the request came from (no port). Proxies'
// forwarding headers are not trusted here.
func clientHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// describeAdmin registers the admin API in the OpenAPI document.
func describeAdmin(spec *apiSpec) {
	spec.schema("LoginRequest", strictObject(map[string]any{
		"email":    str("The admin's email address."),
		"password": str("The admin's password."),
	}, "email", "password"))
	spec.schema("LoginResponse", object(map[string]any{
		"token":     str("An admin token for Authorization: Bearer."),
		"expiresAt": dateTime("When the token stops working."),
	}, "token", "expiresAt"))
	spec.schema("NameRequest", strictObject(map[string]any{
		"name": str("The name."),
	}, "name"))
	spec.schema("App", object(map[string]any{
		"id":           str("The app id."),
		"name":         str("The app's display name."),
		"createdAt":    dateTime("When the app was created."),
		"environments": arrayOf(ref("Environment")),
	}, "id", "name", "createdAt", "environments"))
	spec.schema("AppList", object(map[string]any{
		"items": arrayOf(ref("App")),
	}, "items"))
	spec.schema("Environment", object(map[string]any{
		"name":      str("The environment name, e.g. dev, stage, prod."),
		"appKey":    str("The public app key (X-Skybridge-Key)."),
		"createdAt": dateTime("When the environment was created."),
	}, "name", "appKey", "createdAt"))
	spec.schema("CreatedApp", object(map[string]any{
		"id":           str("The app id."),
		"name":         str("The app's display name."),
		"createdAt":    dateTime("When the app was created."),
		"environments": arrayOf(ref("EnvironmentKeys")),
	}, "id", "name", "createdAt", "environments"))
	spec.schema("EnvironmentKeys", object(map[string]any{
		"name":      str("The environment name."),
		"appKey":    str("The public app key (X-Skybridge-Key)."),
		"serverKey": str("The secret server key (X-Skybridge-Server-Key). Shown only now."),
	}, "name", "appKey", "serverKey"))
	spec.schema("RotateRequest", strictObject(map[string]any{
		"key": enumOf(auth.KeyApp, auth.KeyServer),
		"graceSeconds": map[string]any{"type": "integer", "minimum": 0, "maximum": int64(auth.MaxRotationGrace / time.Second),
			"description": "How long the old key keeps working; 0 (the default) cuts it at once."},
	}, "key"))
	spec.schema("RotatedKey", object(map[string]any{
		"key":                enumOf(auth.KeyApp, auth.KeyServer),
		"appKey":             str("The new app key, when key is app."),
		"serverKey":          str("The new server key, when key is server. Shown only now."),
		"previousValidUntil": dateTime("When the old key stops working."),
	}, "key", "previousValidUntil"))

	admin := []string{schemeBearer}
	spec.route(http.MethodPost, "/admin/api/login", operation{
		ID: "adminLogin", Tag: "admin", Summary: "Trade an admin's email and password for an admin token.",
		Request:   "LoginRequest",
		Responses: []response{{Status: 200, Description: "Logged in.", Schema: "LoginResponse"}},
		Problems:  []int{400, 401, 429},
	})
	spec.route(http.MethodGet, "/admin/api/apps", operation{
		ID: "listApps", Tag: "admin", Summary: "List the apps with their environments and public keys.", Security: admin,
		Responses: []response{{Status: 200, Description: "The apps.", Schema: "AppList"}},
		Problems:  []int{401},
	})
	spec.route(http.MethodPost, "/admin/api/apps", operation{
		ID: "createApp", Tag: "admin", Summary: "Create an app with dev, stage and prod environments and their keys.", Security: admin,
		Request:   "NameRequest",
		Responses: []response{{Status: 201, Description: "Created; the server keys are shown only now.", Schema: "CreatedApp", Headers: []string{"Location"}}},
		Problems:  []int{400, 401},
	})
	spec.route(http.MethodGet, "/admin/api/apps/{id}", operation{
		ID: "getApp", Tag: "admin", Summary: "Get an app with its environments and public keys (never the server keys).", Security: admin,
		Responses: []response{{Status: 200, Description: "The app.", Schema: "App"}},
		Problems:  []int{401, 404},
	})
	spec.route(http.MethodPost, "/admin/api/apps/{id}/environments", operation{
		ID: "addEnvironment", Tag: "admin", Summary: "Add an environment with new keys to an app.", Security: admin,
		Request:   "NameRequest",
		Responses: []response{{Status: 201, Description: "Created; the server key is shown only now.", Schema: "EnvironmentKeys"}},
		Problems:  []int{400, 401, 404, 409},
	})
	spec.route(http.MethodPost, "/admin/api/apps/{id}/environments/{env}/keys/rotate", operation{
		ID: "rotateKey", Tag: "admin", Summary: "Replace an environment's app or server key; the old one keeps working for graceSeconds.", Security: admin,
		Request:   "RotateRequest",
		Responses: []response{{Status: 200, Description: "Rotated.", Schema: "RotatedKey"}},
		Problems:  []int{400, 401, 404},
	})
}
