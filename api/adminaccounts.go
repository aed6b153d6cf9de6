package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/auth"
)

// bindAdminAccounts binds admin account management (owners only, by the
// policy of adminAuth), GET /me for any admin, and deploy token management
// (admindeploytokens.go).
func (a *API) bindAdminAccounts(g chi.Router, spec *apiSpec) {
	g.Get("/me", a.getMe)
	g.Get("/admins", a.listAdmins)
	g.Post("/admins", a.createAdmin)
	g.Patch("/admins/{adminId}", a.patchAdmin)
	g.Delete("/admins/{adminId}", a.deleteAdmin)
	describeAdminAccounts(spec)
	a.bindDeployTokens(g, spec)
}

// adminJSON is an admin as the admin API shows it: never a password hash.
type adminJSON struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Role      string    `json:"role"`
	CreatedAt time.Time `json:"createdAt"`
}

func toAdminJSON(ad auth.Admin) adminJSON {
	return adminJSON{ID: ad.ID, Email: ad.Email, Role: ad.Role, CreatedAt: ad.CreatedAt.UTC()}
}

type createAdminRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Role     string `json:"role"`
}

type patchAdminRequest struct {
	Role string `json:"role"`
}

// checkRole refuses a role an admin cannot be given, naming the field.
func checkRole(role string) error {
	if !auth.ValidRole(role) {
		return onField("role", fmt.Errorf("%w: must be %q, %q or %q", ErrInvalidInput, auth.RoleOwner, auth.RoleDeveloper, auth.RoleViewer))
	}
	return nil
}

// getMe answers who the admin token belongs to.
func (a *API) getMe(w http.ResponseWriter, r *http.Request) {
	claims, ok := AdminFrom(r.Context())
	if !ok {
		a.fail(w, r, fmt.Errorf("%w: /me answers admin tokens only", ErrForbidden))
		return
	}
	ad, err := a.deps.Auth.GetAdmin(r.Context(), claims.AdminID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, toAdminJSON(ad))
}

func (a *API) listAdmins(w http.ResponseWriter, r *http.Request) {
	admins, err := a.deps.Auth.ListAdmins(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	items := make([]adminJSON, 0, len(admins))
	for _, ad := range admins {
		items = append(items, toAdminJSON(ad))
	}
	a.respond(w, r, http.StatusOK, map[string]any{"items": items})
}

func (a *API) createAdmin(w http.ResponseWriter, r *http.Request) {
	var req createAdminRequest
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := errors.Join(required("email", req.Email), required("password", req.Password), checkRole(req.Role)); err != nil {
		a.fail(w, r, err)
		return
	}
	ad, err := a.deps.Auth.CreateAdmin(r.Context(), req.Email, req.Password, req.Role)
	switch {
	case errors.Is(err, auth.ErrWeakPassword):
		err = onField("password", err)
	case errors.Is(err, auth.ErrInvalid), errors.Is(err, auth.ErrExists):
		err = onField("email", err)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/admin/api/admins/"+url.PathEscape(ad.ID))
	a.respond(w, r, http.StatusCreated, toAdminJSON(ad))
}

func (a *API) patchAdmin(w http.ResponseWriter, r *http.Request) {
	var req patchAdminRequest
	if err := decodeJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := checkRole(req.Role); err != nil {
		a.fail(w, r, err)
		return
	}
	ad, err := a.deps.Auth.SetAdminRole(r.Context(), pathParam(r, "adminId"), req.Role)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.respond(w, r, http.StatusOK, toAdminJSON(ad))
}

func (a *API) deleteAdmin(w http.ResponseWriter, r *http.Request) {
	if err := a.deps.Auth.DeleteAdmin(r.Context(), pathParam(r, "adminId")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// describeAdminAccounts registers the admin account routes in the OpenAPI
// document.
func describeAdminAccounts(spec *apiSpec) {
	roles := enumOf(auth.RoleOwner, auth.RoleDeveloper, auth.RoleViewer)
	spec.schema("Admin", object(map[string]any{
		"id":        str("The admin id."),
		"email":     str("The admin's email address (lower case)."),
		"role":      roles,
		"createdAt": dateTime("When the admin was created."),
	}, "id", "email", "role", "createdAt"))
	spec.schema("AdminList", object(map[string]any{
		"items": arrayOf(ref("Admin")),
	}, "items"))
	spec.schema("CreateAdminRequest", strictObject(map[string]any{
		"email":    str("The new admin's email address."),
		"password": str("The new admin's password, at least 12 characters."),
		"role":     roles,
	}, "email", "password", "role"))
	spec.schema("PatchAdminRequest", strictObject(map[string]any{
		"role": roles,
	}, "role"))

	bearer := []string{schemeBearer}
	spec.route(http.MethodGet, "/admin/api/me", operation{
		ID: "getMe", Tag: "admin", Summary: "The admin the token belongs to, with their current role.", Security: bearer,
		Responses: []response{{Status: 200, Description: "The admin.", Schema: "Admin"}},
		Problems:  []int{401, 403},
	})
	spec.route(http.MethodGet, "/admin/api/admins", operation{
		ID: "listAdmins", Tag: "admin", Summary: "List the admins, oldest first (owners only).", Security: bearer,
		Responses: []response{{Status: 200, Description: "The admins.", Schema: "AdminList"}},
		Problems:  []int{401, 403},
	})
	spec.route(http.MethodPost, "/admin/api/admins", operation{
		ID: "createAdmin", Tag: "admin", Summary: "Add an admin with a role (owners only).", Security: bearer,
		Request:   "CreateAdminRequest",
		Responses: []response{{Status: 201, Description: "Created.", Schema: "Admin", Headers: []string{"Location"}}},
		Problems:  []int{400, 401, 403, 409},
	})
	spec.route(http.MethodPatch, "/admin/api/admins/{adminId}", operation{
		ID: "patchAdmin", Tag: "admin", Summary: "Change an admin's role (owners only); the last owner cannot be demoted (409).", Security: bearer,
		Request:   "PatchAdminRequest",
		Responses: []response{{Status: 200, Description: "The changed admin.", Schema: "Admin"}},
		Problems:  []int{400, 401, 403, 404, 409},
	})
	spec.route(http.MethodDelete, "/admin/api/admins/{adminId}", operation{
		ID: "deleteAdmin", Tag: "admin", Summary: "Delete an admin (owners only); their tokens stop working at once. The last owner cannot be deleted (409).", Security: bearer,
		Responses: []response{{Status: 204, Description: "Deleted."}},
		Problems:  []int{401, 403, 404, 409},
	})
}
