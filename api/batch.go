package api

import "github.com/go-chi/chi/v5"

// bindBatch binds POST /v1/batch.
func (a *API) bindBatch(keyed chi.Router, spec *apiSpec) {}
