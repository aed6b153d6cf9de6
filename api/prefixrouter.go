package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// prefixRouter binds routes under a path prefix in the tree of the router
// it wraps. Unlike a mounted sub-router, whose requests are matched once
// in the parent's tree and again in its own, a route bound through it is
// found with one lookup. The /v1 routes, on every app call, bind through
// one.
//
// It cannot set NotFound or MethodNotAllowed (they belong to the whole
// tree): the root's handlers tell the prefix's requests apart themselves.
type prefixRouter struct {
	chi.Router
	prefix string
}

var _ chi.Router = prefixRouter{}

func (p prefixRouter) With(middlewares ...func(http.Handler) http.Handler) chi.Router {
	return prefixRouter{p.Router.With(middlewares...), p.prefix}
}

func (p prefixRouter) Group(fn func(r chi.Router)) chi.Router {
	return prefixRouter{p.Router.Group(func(r chi.Router) { fn(prefixRouter{r, p.prefix}) }), p.prefix}
}

func (p prefixRouter) Route(pattern string, fn func(r chi.Router)) chi.Router {
	return p.Router.Route(p.prefix+pattern, fn)
}

func (p prefixRouter) Mount(pattern string, h http.Handler) { p.Router.Mount(p.prefix+pattern, h) }

func (p prefixRouter) Handle(pattern string, h http.Handler) { p.Router.Handle(p.prefix+pattern, h) }

func (p prefixRouter) HandleFunc(pattern string, h http.HandlerFunc) {
	p.Router.HandleFunc(p.prefix+pattern, h)
}

func (p prefixRouter) Method(method, pattern string, h http.Handler) {
	p.Router.Method(method, p.prefix+pattern, h)
}

func (p prefixRouter) MethodFunc(method, pattern string, h http.HandlerFunc) {
	p.Router.MethodFunc(method, p.prefix+pattern, h)
}

func (p prefixRouter) Connect(pattern string, h http.HandlerFunc) {
	p.Router.Connect(p.prefix+pattern, h)
}

func (p prefixRouter) Delete(pattern string, h http.HandlerFunc) {
	p.Router.Delete(p.prefix+pattern, h)
}

func (p prefixRouter) Get(pattern string, h http.HandlerFunc) { p.Router.Get(p.prefix+pattern, h) }

func (p prefixRouter) Head(pattern string, h http.HandlerFunc) { p.Router.Head(p.prefix+pattern, h) }

func (p prefixRouter) Options(pattern string, h http.HandlerFunc) {
	p.Router.Options(p.prefix+pattern, h)
}

func (p prefixRouter) Patch(pattern string, h http.HandlerFunc) { p.Router.Patch(p.prefix+pattern, h) }

func (p prefixRouter) Post(pattern string, h http.HandlerFunc) { p.Router.Post(p.prefix+pattern, h) }

func (p prefixRouter) Put(pattern string, h http.HandlerFunc) { p.Router.Put(p.prefix+pattern, h) }

func (p prefixRouter) Trace(pattern string, h http.HandlerFunc) { p.Router.Trace(p.prefix+pattern, h) }

func (p prefixRouter) NotFound(http.HandlerFunc) {
	panic("api: a prefixRouter cannot set NotFound; the root's handler tells its requests apart")
}

func (p prefixRouter) MethodNotAllowed(http.HandlerFunc) {
	panic("api: a prefixRouter cannot set MethodNotAllowed; the root's handler tells its requests apart")
}
