package api

import "github.com/go-chi/chi/v5"

// bindRealtime binds GET /v1/realtime, the WebSocket of object events.
func (a *API) bindRealtime(v1 chi.Router, spec *apiSpec) {}
