package api

import "github.com/go-chi/chi/v5"

// bindObjects binds the object routes under /v1/collections.
func (a *API) bindObjects(keyed chi.Router, spec *apiSpec) {}
