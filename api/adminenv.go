package api

import (
	"fmt"
	"net/http"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/store"
)

// adminEnv resolves the environment named by the {id} and {env} URL
// parameters of an admin route. An unknown app or environment is
// auth.ErrNotFound (404).
func (a *API) adminEnv(r *http.Request) (auth.Environment, error) {
	return a.deps.Auth.GetEnvironment(r.Context(), pathParam(r, "id"), pathParam(r, "env"))
}

// auditedAdminEnv is adminEnv, also naming the environment in the
// request's audit record (noteEnvironment), as the admin routes that act
// on one environment's resources do.
func (a *API) auditedAdminEnv(r *http.Request) (auth.Environment, error) {
	env, err := a.adminEnv(r)
	if err == nil {
		noteEnvironment(r.Context(), env, false)
	}
	return env, err
}

// adminEnvironment is adminEnv, also opening the environment's database.
func (a *API) adminEnvironment(r *http.Request) (auth.Environment, store.DB, error) {
	env, err := a.adminEnv(r)
	if err != nil {
		return auth.Environment{}, nil, err
	}
	db, err := a.deps.Store.DB(r.Context(), env.DB)
	if err != nil {
		return auth.Environment{}, nil, fmt.Errorf("open environment %s: %w", env.DB, err)
	}
	return env, db, nil
}
