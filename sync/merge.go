package sync

import (
	"context"
	"errors"
	"reflect"
	"strings"

	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// merge resolves a merge-fields conflict: a three-way merge, per
// top-level field, of the client's change and the server's version
// against the base version the change was made on. A field only one side
// changed takes that side's value; a field both changed keeps the
// server's (it was acknowledged first). A deletion on either side, or a
// base the server no longer keeps, leaves the server's document.
func (s *Service) merge(ctx context.Context, env objectstore.Env, p objectstore.Principal, col string, cur objectstore.Object, c Change) (result, error) {
	if cur == nil || cur.Deleted() || c.Deleted {
		return s.serverKeeps(ctx, env, p, col, cur, c.ID, ResolutionServerWins)
	}
	base := map[string]any{}
	if c.BaseVersion > 0 {
		b, err := s.objects.BaseVersion(ctx, env, col, c.ID, c.BaseVersion)
		if errors.Is(err, objectstore.ErrNotFound) {
			return s.serverKeeps(ctx, env, p, col, cur, c.ID, ResolutionRejected)
		}
		if err != nil {
			return result{}, err
		}
		base = b
	}
	client := store.Normalize(c.Doc).(map[string]any)
	merged := MergeFields(base, userOnly(cur), client)
	if acl, ok := client[store.FieldACL]; ok {
		merged[store.FieldACL] = acl
	}
	a, err := s.write(ctx, env, p, col, cur, c, merged)
	if err != nil {
		return result{}, err
	}
	obj, err := s.objects.Stored(ctx, env, col, c.ID)
	if err != nil {
		return result{}, err
	}
	if obj.Version() != a.V {
		obj = nil // moved on already; the next pull brings it
	}
	return result{Applied: &a, Conflict: &Conflict{ID: c.ID, Server: obj, Resolution: ResolutionMerged}}, nil
}

func userOnly(o objectstore.Object) map[string]any {
	out := map[string]any{}
	for k, v := range o {
		if !strings.HasPrefix(k, "_") {
			out[k] = v
		}
	}
	return out
}

// MergeFields merges client and server, both derived from base, per
// top-level field: a field changed (or removed) on one side only takes
// that side's state; a field changed on both keeps the server's.
func MergeFields(base, server, client map[string]any) map[string]any {
	out := map[string]any{}
	keys := map[string]bool{}
	for _, m := range []map[string]any{base, server, client} {
		for k := range m {
			if !strings.HasPrefix(k, "_") {
				keys[k] = true
			}
		}
	}
	for k := range keys {
		b, inB := base[k]
		sv, inS := server[k]
		cv, inC := client[k]
		clientSame := inB == inC && reflect.DeepEqual(b, cv)
		take, present := sv, inS // server's, unless only the client changed it
		if clientSame {
			take, present = sv, inS
		} else if inB == inS && reflect.DeepEqual(b, sv) {
			take, present = cv, inC
		}
		if present {
			out[k] = take
		}
	}
	return out
}
