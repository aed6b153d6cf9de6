package sqlite

import (
	"encoding/json"
	"fmt"
	"math"
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
	for p, by := range u.Inc {
		if err := check(p); err != nil {
			return err
		}
		if math.IsNaN(by) || math.IsInf(by, 0) {
			return fmt.Errorf("%w: increment of %q is not finite", store.ErrInvalid, p)
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
		val, err := shapeValue(v)
		if err != nil {
			return nil, err
		}
		if err := setPath(next, p, val); err != nil {
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
			if by == math.Trunc(by) && math.Abs(by) <= maxSafeInt {
				if n := o + int64(by); n >= -maxSafeInt && n <= maxSafeInt {
					sum = n
				}
			}
		case float64:
			sum = store.Normalize(o + by)
		default:
			return nil, fmt.Errorf("%w: cannot increment a non-number at %q", store.ErrInvalid, p)
		}
		if f, ok := sum.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
			return nil, fmt.Errorf("%w: increment of %q overflows", store.ErrInvalid, p)
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

// shapeValue copies a value set by an update into document shape.
func shapeValue(v any) (any, error) {
	v = store.Normalize(v)
	if jsonShaped(v) {
		return v, nil
	}
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: value is not JSON: %v", store.ErrInvalid, err)
	}
	d, err := decode(append(append([]byte(`{"v":`), body...), '}'))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", store.ErrInvalid, err)
	}
	return d["v"], nil
}
