package api

import "github.com/go-chi/chi/v5"

// bindAdminAccounts binds admin account and deploy token management.
func (a *API) bindAdminAccounts(g chi.Router, spec *apiSpec) {}
