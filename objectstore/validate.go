package objectstore

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"github.com/skybridgehq/skybridge/store"
)

// Bounds on what a client may send.
const (
	// MaxACLEntries bounds each of an object's _acl lists.
	MaxACLEntries = 100
	// MaxIDLen bounds a client-chosen _id.
	MaxIDLen = 128
)

var idRe = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)

// ValidID checks an object id: 1 to 128 letters, digits, '_', '.', ':' or
// '-'.
func ValidID(id string) error {
	if !idRe.MatchString(id) {
		return fieldErr(store.FieldID, ErrInvalid, "%q is not an object id (1 to %d letters, digits, '_', '.', ':' or '-')", id, MaxIDLen)
	}
	return nil
}

// CheckFields checks the field names of a document at every depth: not
// empty, no leading '$', no '.', no NUL; numbers finite; nesting at most
// store.MaxDocDepth. The error is a *FieldError naming the path.
func CheckFields(doc map[string]any) error {
	return checkValue(doc, "", 0)
}

func checkValue(v any, at string, depth int) error {
	if depth > store.MaxDocDepth {
		return fieldErr(at, ErrInvalid, "nested deeper than %d", store.MaxDocDepth)
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := k
			if at != "" {
				p = at + "." + k
			}
			if k == "" || strings.HasPrefix(k, "$") || strings.ContainsAny(k, ".\x00") {
				return fieldErr(p, ErrInvalid, "field names may not be empty, start with '$' or contain '.'")
			}
			if err := checkValue(e, p, depth+1); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := checkValue(e, fmt.Sprintf("%s[%d]", at, i), depth+1); err != nil {
				return err
			}
		}
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fieldErr(at, ErrInvalid, "number is not finite")
		}
	case nil, bool, string, int64, int, json.Number:
	default:
		return fieldErr(at, ErrInvalid, "value of type %T is not JSON", v)
	}
	return nil
}

// checkACL validates an _acl value and returns it normalized: an object
// with optional "read" and "write" lists of "*", user ids or role:<name>,
// without duplicates. nil (JSON null) is no ACL.
func checkACL(v any) (map[string]any, error) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fieldErr(store.FieldACL, ErrInvalid, "must be an object {read: [...], write: [...]}")
	}
	out := make(map[string]any, 2)
	for k, lv := range m {
		if k != aclRead && k != aclWrite {
			return nil, fieldErr(store.FieldACL+"."+k, ErrInvalid, "unknown ACL list (want read or write)")
		}
		field := store.FieldACL + "." + k
		if lv == nil {
			continue
		}
		list, ok := lv.([]any)
		if !ok {
			return nil, fieldErr(field, ErrInvalid, "must be an array of user ids and role:<name>")
		}
		if len(list) > MaxACLEntries {
			return nil, fieldErr(field, ErrInvalid, "more than %d entries", MaxACLEntries)
		}
		seen := make(map[string]bool, len(list))
		entries := make([]any, 0, len(list))
		for i, e := range list {
			s, ok := e.(string)
			if !ok || !validGrantee(s) {
				return nil, fieldErr(fmt.Sprintf("%s[%d]", field, i), ErrInvalid, "want \"*\", a user id or role:<name>")
			}
			if !seen[s] {
				seen[s] = true
				entries = append(entries, s)
			}
		}
		out[k] = entries
	}
	return out, nil
}

func validGrantee(s string) bool {
	if s == ACLPublic {
		return true
	}
	if name, ok := strings.CutPrefix(s, RolePrefix); ok {
		return roleRe.MatchString(name)
	}
	return idRe.MatchString(s)
}

// userFields returns the fields of doc that are not system fields (those
// starting with '_').
func userFields(doc map[string]any) map[string]any {
	out := make(map[string]any, len(doc))
	for k, v := range doc {
		if !strings.HasPrefix(k, "_") {
			out[k] = v
		}
	}
	return out
}

// prepareCreate turns a client's new object into the document to insert:
// user fields checked, _id and _acl validated, _owner set to the caller
// (the server key may name another owner), any other '_' field refused.
func prepareCreate(p Principal, body map[string]any) (store.Doc, error) {
	doc := store.Doc{}
	for _, k := range checkOrder(body) {
		v := body[k]
		switch {
		case k == store.FieldID:
			id, ok := v.(string)
			if !ok {
				return nil, fieldErr(k, ErrInvalid, "must be a string")
			}
			if err := ValidID(id); err != nil {
				return nil, err
			}
			doc[k] = id
		case k == store.FieldACL:
			acl, err := checkACL(v)
			if err != nil {
				return nil, err
			}
			if acl != nil {
				doc[k] = acl
			}
		case k == store.FieldOwner && p.Server:
			if err := checkOwner(v); err != nil {
				return nil, err
			}
			if v != nil {
				doc[k] = v
			}
		case strings.HasPrefix(k, "_"):
			return nil, fieldErr(k, ErrInvalid, "fields starting with '_' are reserved for the system")
		default:
			doc[k] = v
		}
	}
	if err := CheckFields(userFields(doc)); err != nil {
		return nil, err
	}
	if _, set := doc[store.FieldOwner]; !set && p.UserID != "" {
		doc[store.FieldOwner] = p.UserID
	}
	return doc, nil
}

func checkOwner(v any) error {
	if v == nil {
		return nil
	}
	if s, ok := v.(string); !ok || !idRe.MatchString(s) {
		return fieldErr(store.FieldOwner, ErrInvalid, "must be a user id")
	}
	return nil
}

// prepareUpdate turns the new content of object id (a PUT body, or the
// stored object with a merge patch applied) into the document to write
// over stored. System fields equal to the stored ones are ignored; _id
// must be id; _acl may change (null removes it; absent keeps it unless
// dropACL); the server key may change _owner; any other differing '_'
// field is refused by name.
func prepareUpdate(p Principal, id string, stored Object, body map[string]any, dropACL bool) (store.Doc, error) {
	doc := store.Doc{}
	aclSet := false
	for _, k := range checkOrder(body) {
		v := body[k]
		switch {
		case k == store.FieldID:
			if v != id {
				return nil, fieldErr(k, ErrInvalid, "does not match the object id %q", id)
			}
		case k == store.FieldACL:
			acl, err := checkACL(v)
			if err != nil {
				return nil, err
			}
			aclSet = true
			if acl != nil {
				doc[k] = acl
			}
		case k == store.FieldOwner && p.Server:
			if err := checkOwner(v); err != nil {
				return nil, err
			}
			if v != nil {
				doc[k] = v
			}
		case strings.HasPrefix(k, "_"):
			sv, has := stored[k]
			if !has || !reflect.DeepEqual(store.Normalize(v), store.Normalize(sv)) {
				return nil, fieldErr(k, ErrInvalid, "system field differs from the stored value; it cannot be written")
			}
		default:
			doc[k] = v
		}
	}
	if err := CheckFields(userFields(doc)); err != nil {
		return nil, err
	}
	if !aclSet && !dropACL {
		if acl, has := stored[store.FieldACL]; has && acl != nil {
			doc[store.FieldACL] = acl
		}
	}
	if _, set := body[store.FieldOwner]; !set || !p.Server {
		if o, has := stored[store.FieldOwner]; has {
			doc[store.FieldOwner] = o
		}
	}
	return doc, nil
}

// checkOrder returns the keys of body in the order they are checked, so
// that the field an error names does not depend on map order: _id, then
// _v (a stale _v is the likeliest mistake of a round trip), then the rest
// sorted.
func checkOrder(body map[string]any) []string {
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	rank := func(k string) int {
		switch k {
		case store.FieldID:
			return 0
		case store.FieldVersion:
			return 1
		}
		return 2
	}
	slices.SortFunc(keys, func(a, b string) int {
		if ra, rb := rank(a), rank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	return keys
}

// checkSize refuses a document whose JSON encoding is over max bytes.
func checkSize(doc store.Doc, max int) error {
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if len(b) > max {
		return fmt.Errorf("%w: %d bytes encoded, the limit is %d", ErrTooLarge, len(b), max)
	}
	return nil
}
