package sqlite

import (
	"fmt"
	"strings"

	"github.com/skybridgehq/skybridge/store"
)

// ownFields are system fields that only the adapter writes.
var ownFields = map[string]bool{
	store.FieldID: true, store.FieldVersion: true, store.FieldSeq: true,
	store.FieldCreatedAt: true, store.FieldUpdatedAt: true,
}

func checkUpdate(u store.Update) error {
	if len(u.Set) == 0 && len(u.Inc) == 0 {
		return fmt.Errorf("%w: empty update", store.ErrInvalid)
	}
	check := func(p string) error {
		if err := store.ValidPath(p); err != nil {
			return err
		}
		if ownFields[strings.SplitN(p, ".", 2)[0]] {
			return fmt.Errorf("%w: update of system field %q", store.ErrInvalid, p)
		}
		return nil
	}
	for p, v := range u.Set {
		if err := check(p); err != nil {
			return err
		}
		if err := store.CheckDocument(store.Doc{"v": v}); err != nil {
			return err
		}
		if _, both := u.Inc[p]; both {
			return fmt.Errorf("%w: %q both set and incremented", store.ErrInvalid, p)
		}
	}
	for p := range u.Inc {
		if err := check(p); err != nil {
			return err
		}
	}
	// A path may not be a prefix of another in the same update.
	var paths []string
	for p := range u.Set {
		paths = append(paths, p)
	}
	for p := range u.Inc {
		paths = append(paths, p)
	}
	for _, a := range paths {
		for _, b := range paths {
			if a != b && strings.HasPrefix(b, a+".") {
				return fmt.Errorf("%w: update paths %q and %q overlap", store.ErrInvalid, a, b)
			}
		}
	}
	return nil
}

// applyUpdate returns a copy of cur with u applied.
func applyUpdate(cur store.Doc, u store.Update) (store.Doc, error) {
	next, _ := store.Normalize(map[string]any(cur)).(map[string]any)
	for p, v := range u.Set {
		if err := setPath(next, p, store.Normalize(v)); err != nil {
			return nil, err
		}
	}
	for p, by := range u.Inc {
		old, ok := store.Lookup(next, p)
		var sum any
		switch o := old.(type) {
		case nil:
			if ok {
				return nil, fmt.Errorf("%w: cannot increment null at %q", store.ErrInvalid, p)
			}
			sum = store.Normalize(by)
		case int64:
			sum = store.Normalize(float64(o) + by)
			if by == float64(int64(by)) {
				sum = store.Normalize(o + int64(by))
			}
		case float64:
			sum = store.Normalize(o + by)
		default:
			return nil, fmt.Errorf("%w: cannot increment a non-number at %q", store.ErrInvalid, p)
		}
		if err := setPath(next, p, sum); err != nil {
			return nil, err
		}
	}
	return next, nil
}

// setPath assigns v at a dotted path, creating objects on the way.
func setPath(doc map[string]any, path string, v any) error {
	segs := strings.Split(path, ".")
	cur := doc
	for i, s := range segs[:len(segs)-1] {
		next, ok := cur[s]
		if !ok || next == nil {
			m := map[string]any{}
			cur[s] = m
			cur = m
			continue
		}
		m, ok := next.(map[string]any)
		if !ok {
			return fmt.Errorf("%w: %q is not an object", store.ErrInvalid, strings.Join(segs[:i+1], "."))
		}
		cur = m
	}
	cur[segs[len(segs)-1]] = v
	return nil
}
