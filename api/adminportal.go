package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/web"
)

// bindAdminPortal serves the admin portal (package web) at /admin: its
// content-hashed files under /admin/assets/ with a year-long cache, and
// index.html for /admin, /admin/ and every /admin/<page> (the portal's
// routes in the browser), never cached. /admin/api is mounted beside it
// and stays the JSON API; /v1 is untouched. The files are read once, here.
func (a *API) bindAdminPortal(r chi.Router, spec *apiSpec) error {
	p, err := newAdminPortal(web.Assets())
	if err != nil {
		return err
	}
	p.notFound = http.HandlerFunc(a.notFound)
	r.Get("/admin", p.page)
	r.Get("/admin/", p.page)
	r.Get("/admin/{page}", p.page)
	r.Get("/admin/assets/{file}", p.asset)
	page := operation{Tag: "portal", Responses: []response{{Status: 200, Description: "The portal's page (index.html).", ContentType: "text/html"}}}
	for _, route := range []struct{ path, id, summary string }{
		{"/admin", "adminPortal", "The admin portal."},
		{"/admin/", "adminPortalSlash", "The admin portal."},
		{"/admin/{page}", "adminPortalPage", "A page of the admin portal (the same document; the portal routes in the browser)."},
	} {
		page.ID, page.Summary = route.id, route.summary
		spec.route(http.MethodGet, route.path, page)
	}
	spec.route(http.MethodGet, "/admin/assets/{file}", operation{
		ID: "adminPortalAsset", Tag: "portal", Summary: "A content-hashed script or stylesheet of the portal, cached for a year.",
		Responses: []response{{Status: 200, Description: "The file.", ContentType: "application/octet-stream"}},
		Problems:  []int{404},
	})
	return nil
}

// portalCSP lets the portal load only its own files and call only its
// own origin; nothing may frame it.
const portalCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// portalFile is one embedded portal file, ready to send.
type portalFile struct {
	body  []byte
	ctype string
	etag  string
}

// adminPortal serves the embedded portal build.
type adminPortal struct {
	index    portalFile
	assets   map[string]portalFile // by path under assets/
	notFound http.Handler
}

func newAdminPortal(files fs.FS) (*adminPortal, error) {
	p := &adminPortal{assets: map[string]portalFile{}}
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		return nil, fmt.Errorf("api: admin portal: %w (rebuild it with make web)", err)
	}
	p.index = newPortalFile("index.html", index)
	err = fs.WalkDir(files, "assets", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(files, name)
		if err != nil {
			return err
		}
		p.assets[strings.TrimPrefix(name, "assets/")] = newPortalFile(name, body)
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("api: admin portal assets: %w", err)
	}
	return p, nil
}

func newPortalFile(name string, body []byte) portalFile {
	ctype := mime.TypeByExtension(path.Ext(name))
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	sum := sha256.Sum256(body)
	return portalFile{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
}

// asset answers /admin/assets/{file}: a hashed file, or a 404 problem.
func (p *adminPortal) asset(w http.ResponseWriter, r *http.Request) {
	f, found := p.assets[chi.URLParam(r, "file")]
	if !found {
		p.notFound.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	p.send(w, r, f)
}

// page answers index.html, which the browser revalidates each time so a
// new build shows at once.
func (p *adminPortal) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-cache")
	p.send(w, r, p.index)
}

func (p *adminPortal) send(w http.ResponseWriter, r *http.Request, f portalFile) {
	h := w.Header()
	h.Set("Content-Security-Policy", portalCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Type", f.ctype)
	h.Set("ETag", f.etag)
	if match := r.Header.Get("If-None-Match"); match != "" && match == f.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(f.body)
	}
}
