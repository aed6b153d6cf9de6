package api

import "github.com/go-chi/chi/v5"

// bindAdminUsers binds the admin routes that manage an environment's app
// users.
func (a *API) bindAdminUsers(g chi.Router, spec *apiSpec) {}
