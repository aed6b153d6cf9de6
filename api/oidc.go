package api

import "github.com/go-chi/chi/v5"

// bindOIDC binds the keyed OpenID sign-in routes under /v1/auth.
func (a *API) bindOIDC(r chi.Router, spec *apiSpec) {}

// bindOIDCBrowser binds the browser legs of OpenID sign-in (start,
// callback) on /v1, outside the app-key middleware.
func (a *API) bindOIDCBrowser(v1 chi.Router, spec *apiSpec) {}

// bindOIDCAdmin binds the admin routes that configure OpenID providers.
func (a *API) bindOIDCAdmin(g chi.Router, spec *apiSpec) {}
