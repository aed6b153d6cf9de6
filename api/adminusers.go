package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/auth"
)

// bindAdminUsers binds the admin routes that manage an environment's app
// users: list and search, read, change roles or disable, delete.
func (a *API) bindAdminUsers(g chi.Router, spec *apiSpec) {
	const base = "/apps/{id}/environments/{env}/users"
	g.Get(base, a.listUsers)
	g.Get(base+"/{uid}", a.getUser)
	g.Patch(base+"/{uid}", a.patchUser)
	g.Delete(base+"/{uid}", a.deleteUser)
	describeAdminUsers(spec, "/admin/api"+base)
}

// userPageJSON is the answer of the user list.
type userPageJSON struct {
	Items  []auth.User `json:"items"`
	Cursor *string     `json:"cursor"`
}

// userPatchRequest is the body of PATCH .../users/{uid}; absent fields stay.
type userPatchRequest struct {
	Roles    *[]string `json:"roles"`
	Disabled *bool     `json:"disabled"`
}

func (a *API) listUsers(w http.ResponseWriter, r *http.Request) {
	_, db, err := a.adminEnvironment(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	q, err := parseUserQuery(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	page, err := a.deps.Auth.ListUsers(r.Context(), db, q)
	if errors.Is(err, auth.ErrInvalid) {
		err = onField("search", err)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := userPageJSON{Items: page.Users}
	for i := range out.Items {
		out.Items[i].CreatedAt = out.Items[i].CreatedAt.UTC()
	}
	if page.Cursor != "" {
		out.Cursor = &page.Cursor
	}
	a.respond(w, r, http.StatusOK, out)
}

// parseUserQuery reads search, role, disabled, limit and cursor.
func parseUserQuery(r *http.Request) (auth.UserQuery, error) {
	p := r.URL.Query()
	q := auth.UserQuery{Search: p.Get("search"), Role: p.Get("role"), Cursor: p.Get("cursor")}
	var errs []error
	if len(q.Search) > auth.MaxUserSearchLen {
		errs = append(errs, onField("search", fmt.Errorf("%w: at most %d bytes", ErrInvalidInput, auth.MaxUserSearchLen)))
	}
	if q.Role != "" {
		if _, err := auth.ValidUserRoles([]string{q.Role}); err != nil {
			errs = append(errs, onField("role", err))
		}
	}
	if v := p.Get("disabled"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, onField("disabled", fmt.Errorf("%w: must be true or false", ErrInvalidInput)))
		}
		q.Disabled = &b
	}
	if v := p.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			errs = append(errs, onField("limit", fmt.Errorf("%w: must be 1 to 1000", ErrInvalidInput)))
		}
		q.Limit = n
	}
	return q, errors.Join(errs...)
}

func (a *API) getUser(w http.ResponseWriter, r *http.Request) {
	_, db, err := a.adminEnvironment(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	u, err := a.deps.Auth.GetUser(r.Context(), db, pathParam(r, "uid"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	u.CreatedAt = u.CreatedAt.UTC()
	a.respond(w, r, http.StatusOK, u)
}

func (a *API) patchUser(w http.ResponseWriter, r *http.Request) {
	var req userPatchRequest
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	_, db, err := a.adminEnvironment(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	u, err := a.deps.Auth.UpdateUser(r.Context(), db, pathParam(r, "uid"), auth.UserChange{Roles: req.Roles, Disabled: req.Disabled})
	if errors.Is(err, auth.ErrInvalid) {
		err = onField("roles", err)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	u.CreatedAt = u.CreatedAt.UTC()
	a.respond(w, r, http.StatusOK, u)
}

func (a *API) deleteUser(w http.ResponseWriter, r *http.Request) {
	_, db, err := a.adminEnvironment(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.deps.Auth.DeleteUser(r.Context(), db, pathParam(r, "uid")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// describeAdminUsers registers the user management routes in the OpenAPI
// document.
func describeAdminUsers(spec *apiSpec, base string) {
	spec.schema("UserPage", object(map[string]any{
		"items":  arrayOf(ref("User")),
		"cursor": str("Continues after the last item; null on the last page."),
	}, "items", "cursor"))
	spec.schema("UserPatch", strictObject(map[string]any{
		"roles":    arrayOf(str("A role: a lower-case letter, then up to 31 letters, digits, '_' or '-'.")),
		"disabled": boolean("Disable (true: every session is revoked at once) or enable the user."),
	}))
	bearer := []string{schemeBearer}
	spec.route(http.MethodGet, base, operation{
		ID: "listUsers", Tag: "admin", Summary: "List an environment's users, newest first (search = id or email prefix, role, disabled, limit, cursor).",
		Security:  bearer,
		Responses: []response{{Status: 200, Description: "A page of users.", Schema: "UserPage"}},
		Problems:  []int{400, 401, 403, 404},
	})
	spec.route(http.MethodGet, base+"/{uid}", operation{
		ID: "getUser", Tag: "admin", Summary: "One user of the environment.", Security: bearer,
		Responses: []response{{Status: 200, Description: "The user.", Schema: "User"}},
		Problems:  []int{401, 403, 404},
	})
	spec.route(http.MethodPatch, base+"/{uid}", operation{
		ID: "patchUser", Tag: "admin", Summary: "Change a user's roles, or disable or enable the user.", Security: bearer,
		Request:   "UserPatch",
		Responses: []response{{Status: 200, Description: "The changed user.", Schema: "User"}},
		Problems:  []int{400, 401, 403, 404},
	})
	spec.route(http.MethodDelete, base+"/{uid}", operation{
		ID: "deleteUser", Tag: "admin", Summary: "Delete a user with its sessions.", Security: bearer,
		Responses: []response{{Status: 204, Description: "Deleted."}},
		Problems:  []int{401, 403, 404},
	})
}
