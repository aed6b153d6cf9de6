package api

import "github.com/go-chi/chi/v5"

// bindUserMail binds email verification and password reset under /v1/auth.
func (a *API) bindUserMail(r chi.Router, spec *apiSpec) {}

// bindMailAdmin binds the admin routes of per-environment mail settings.
func (a *API) bindMailAdmin(g chi.Router, spec *apiSpec) {}
