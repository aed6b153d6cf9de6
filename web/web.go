// Package web holds the admin portal: a Preact single-page app whose built
// files (web/dist, committed so that go build needs no Node) are embedded
// in the binary and served at /admin by the api package. The sources are
// under web/src; `make web` rebuilds web/dist from them, and the browser
// tests under web/e2e drive the portal against a real skybridge serve.
package web

import (
	"embed"
	"io/fs"
)

//go:embed all:dist
var dist embed.FS

// Assets is the built portal: index.html at its root and content-hashed
// files under assets/.
func Assets() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		// fs.Sub fails only on an invalid path; "dist" is valid.
		panic(err)
	}
	return sub
}
