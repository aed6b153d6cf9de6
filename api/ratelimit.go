package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// rateLimit limits /v1 requests per environment and per user or address.
func (a *API) rateLimit(next http.Handler) http.Handler { return next }

// bindRateLimitAdmin binds the admin routes of per-environment rate limits.
func (a *API) bindRateLimitAdmin(g chi.Router, spec *apiSpec) {}
