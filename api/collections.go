package api

import "github.com/go-chi/chi/v5"

// bindCollectionsAdmin binds the admin routes of collection settings.
func (a *API) bindCollectionsAdmin(g chi.Router, spec *apiSpec) {}
