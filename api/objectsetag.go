package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/skybridgehq/skybridge/objectstore"
)

// Conditional requests on objects (RFC 9110 §13): the ETag of an object
// is its version _v, quoted and strong ("3"). GET honours If-None-Match
// (weak comparison, 304); PUT, PATCH and DELETE honour If-Match (strong
// comparison, 412).

// etag is the strong entity tag of object version v.
func etag(v int64) string { return `"` + strconv.FormatInt(v, 10) + `"` }

// entityTags splits If-Match / If-None-Match header values into their
// entity tags ("*" included); ok is false when a value is malformed.
func entityTags(values []string) (tags []string, ok bool) {
	for _, v := range values {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if t == "" {
				continue
			}
			opaque := strings.TrimPrefix(t, "W/")
			if t != "*" && (len(opaque) < 2 || opaque[0] != '"' || opaque[len(opaque)-1] != '"' || strings.Contains(opaque[1:len(opaque)-1], `"`)) {
				return nil, false
			}
			tags = append(tags, t)
		}
	}
	return tags, true
}

// noneMatch reports whether If-None-Match values name version v (weak
// comparison) or are "*".
func noneMatch(values []string, v int64) bool {
	tags, ok := entityTags(values)
	if !ok {
		return false
	}
	want := etag(v)
	for _, t := range tags {
		if t == "*" || strings.TrimPrefix(t, "W/") == want {
			return true
		}
	}
	return false
}

// ifMatch returns the version If-Match asks an update or delete of object
// id to be at: 0 when there is no If-Match or it is "*" (the object need
// only exist, which every update needs). With several candidate versions
// the current one is read and must be among them.
func (a *API) ifMatch(r *http.Request, c objectCall, col, id string) (int64, error) {
	versions, err := ifMatchVersions(r.Header.Values("If-Match"))
	if err != nil || len(versions) == 0 {
		return 0, err
	}
	if len(versions) == 1 {
		return versions[0], nil
	}
	obj, err := a.deps.Objects.Get(r.Context(), c.env, c.p, col, id)
	if err != nil {
		return 0, err
	}
	for _, v := range versions {
		if v == obj.Version() {
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w: object %s is at version %d", objectstore.ErrPreconditionFailed, id, obj.Version())
}

// ifMatchVersions reads If-Match values: nil when absent or "*", else the
// versions its strong tags name. A malformed value is a 400 naming the
// header; tags that cannot match any version (weak ones, since If-Match
// compares strongly, or ones that are not a version) are a 412.
func ifMatchVersions(values []string) ([]int64, error) {
	if len(values) == 0 {
		return nil, nil
	}
	tags, ok := entityTags(values)
	if !ok || len(tags) == 0 {
		return nil, onField("If-Match", fmt.Errorf("%w: want an entity tag such as \"3\" (the object's _v), or *", ErrInvalidInput))
	}
	var versions []int64
	for _, t := range tags {
		if t == "*" {
			return nil, nil
		}
		if strings.HasPrefix(t, "W/") {
			continue
		}
		if v, err := strconv.ParseInt(t[1:len(t)-1], 10, 64); err == nil && v > 0 {
			versions = append(versions, v)
		}
	}
	if len(versions) == 0 {
		return nil, fmt.Errorf("%w: If-Match names no version the object can have", objectstore.ErrPreconditionFailed)
	}
	return versions, nil
}
