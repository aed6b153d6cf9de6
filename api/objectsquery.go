package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// Bounds of a list query's parameters.
const (
	// defaultObjectLimit is the page size when limit is absent.
	defaultObjectLimit = store.DefaultLimit
	// maxObjectLimit bounds limit.
	maxObjectLimit = store.MaxLimit
	// maxCursorLen bounds the opaque cursor a client sends back.
	maxCursorLen = 4096
)

// listParams are the query parameters of GET /v1/collections/{col}/objects.
var listParams = map[string]bool{"filter": true, "sort": true, "limit": true, "cursor": true, "fields": true, "count": true}

// objectPage is the answer of a list: one page of objects, the cursor of
// the next page (null on the last one) and, when asked for, the number of
// matching objects over all pages.
type objectPage struct {
	Items  []objectstore.Object `json:"items"`
	Cursor *string              `json:"cursor"`
	Count  *int64               `json:"count,omitempty"`
}

// listObjects serves GET /v1/collections/{col}/objects.
func (a *API) listObjects(w http.ResponseWriter, r *http.Request) {
	c, err := a.objectCallFrom(r)
	if err != nil {
		a.objectFail(w, r, err)
		return
	}
	q, err := parseListQuery(r.URL.Query())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	page, err := a.deps.Objects.List(r.Context(), c.env, c.p, pathParam(r, "col"), q)
	if err != nil {
		a.objectFail(w, r, err)
		return
	}
	out := objectPage{Items: page.Items, Count: page.Count}
	if out.Items == nil {
		out.Items = []objectstore.Object{}
	}
	if page.Cursor != "" {
		out.Cursor = &page.Cursor
	}
	w.Header().Set("Cache-Control", "private, no-cache")
	a.respond(w, r, http.StatusOK, out)
}

// parseListQuery reads the query parameters of a list: filter (the JSON
// filter language, validated by store.ParseFilter), sort ("-n,title", at
// most objectstore.MaxSortKeys fields), limit (1 to 1000, default 100),
// cursor (opaque), fields (a comma list of dotted paths; _id always comes
// back) and count (a boolean). Unknown or repeated parameters are refused;
// every error names the parameter.
func parseListQuery(v url.Values) (objectstore.ListQuery, error) {
	q := objectstore.ListQuery{Limit: defaultObjectLimit}
	for name, vals := range v {
		if !listParams[name] {
			return q, onField(name, fmt.Errorf("%w: unknown query parameter (want filter, sort, limit, cursor, fields or count)", ErrInvalidInput))
		}
		if len(vals) > 1 {
			return q, onField(name, fmt.Errorf("%w: given %d times", ErrInvalidInput, len(vals)))
		}
	}
	var err error
	if s := v.Get("filter"); s != "" {
		if q.Filter, err = store.ParseFilter([]byte(s)); err != nil {
			return q, onField("filter", err)
		}
	}
	if s := v.Get("sort"); s != "" {
		if q.Sort, err = store.ParseSort(s, objectstore.MaxSortKeys); err != nil {
			return q, onField("sort", err)
		}
	}
	if s, ok := v["limit"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(s[0]))
		if err != nil || n < 1 || n > maxObjectLimit {
			return q, onField("limit", fmt.Errorf("%w: must be an integer from 1 to %d", ErrInvalidInput, maxObjectLimit))
		}
		q.Limit = n
	}
	if s := v.Get("cursor"); s != "" {
		if len(s) > maxCursorLen {
			return q, onField("cursor", fmt.Errorf("%w: longer than %d bytes; send back the cursor of a page", ErrInvalidInput, maxCursorLen))
		}
		q.Cursor = s
	}
	if s, ok := v["fields"]; ok {
		if q.Fields, err = parseFields(s[0]); err != nil {
			return q, onField("fields", err)
		}
	}
	if s, ok := v["count"]; ok {
		if q.Count, err = strconv.ParseBool(s[0]); err != nil {
			return q, onField("count", fmt.Errorf("%w: must be true or false", ErrInvalidInput))
		}
	}
	return q, nil
}

// parseFields reads a projection: comma-separated dotted paths, at most
// objectstore.MaxFields, repeats dropped.
func parseFields(s string) ([]string, error) {
	parts := strings.Split(s, ",")
	if len(parts) > objectstore.MaxFields {
		return nil, fmt.Errorf("%w: more than %d fields", ErrInvalidInput, objectstore.MaxFields)
	}
	out := make([]string, 0, len(parts))
	seen := map[string]bool{}
	for _, f := range parts {
		f = strings.TrimSpace(f)
		if err := store.ValidPath(f); err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrInvalidInput, f, err)
		}
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out, nil
}
