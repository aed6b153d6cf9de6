package objectstore

import (
	"regexp"
	"slices"
	"strings"

	"github.com/skybridgehq/skybridge/store"
)

// Rule values. A rule is one of these or RolePrefix followed by a role
// name ("role:editor").
const (
	// RulePublic admits every caller, anonymous ones included.
	RulePublic = "public"
	// RuleAuthenticated admits every signed-in user.
	RuleAuthenticated = "authenticated"
	// RuleOwner admits the object's owner and those its _acl names (read
	// for reads, write for updates and deletes). For create it means
	// authenticated: the creator becomes the owner.
	RuleOwner = "owner"
	// RuleServer admits the server key only.
	RuleServer = "server"
	// RolePrefix starts a rule that admits the users holding a role.
	RolePrefix = "role:"
)

// ACLPublic in an object's _acl list grants everyone, anonymous callers
// included (Parse's "*").
const ACLPublic = "*"

// Rules say who may do what in a collection. The server key bypasses them.
type Rules struct {
	Read   string `json:"read"`
	Create string `json:"create"`
	Update string `json:"update"`
	Delete string `json:"delete"`
}

// DefaultRules are the rules of a new collection: any signed-in user
// creates, and only the owner (or whom the object's _acl names) reads,
// updates and deletes.
var DefaultRules = Rules{Read: RuleOwner, Create: RuleAuthenticated, Update: RuleOwner, Delete: RuleOwner}

// roleRe is the shape of a role name, as auth.ValidUserRoles accepts it.
var roleRe = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

// ValidRule checks one rule value.
func ValidRule(rule string) error {
	switch rule {
	case RulePublic, RuleAuthenticated, RuleOwner, RuleServer:
		return nil
	}
	if name, ok := strings.CutPrefix(rule, RolePrefix); ok && roleRe.MatchString(name) {
		return nil
	}
	return ErrInvalid
}

// validate checks every rule, naming the first bad one.
func (r Rules) validate() error {
	for _, f := range []struct{ name, v string }{
		{"rules.read", r.Read}, {"rules.create", r.Create}, {"rules.update", r.Update}, {"rules.delete", r.Delete},
	} {
		if ValidRule(f.v) != nil {
			return fieldErr(f.name, ErrInvalid, "%q is not a rule (public, authenticated, owner, server or role:<name>)", f.v)
		}
	}
	return nil
}

// admits reports whether rule lets p in without looking at an object: the
// server key always; public always; authenticated for a user; role:x for
// a holder of x. Owner and server rules need more (an object, the key).
func admits(rule string, p Principal) bool {
	if p.Server {
		return true
	}
	switch rule {
	case RulePublic:
		return true
	case RuleAuthenticated:
		return p.UserID != ""
	case RuleOwner, RuleServer:
		return false
	}
	if name, ok := strings.CutPrefix(rule, RolePrefix); ok {
		return slices.Contains(p.Roles, name)
	}
	return false
}

// mayCreate reports whether p may create objects under rule.
func mayCreate(rule string, p Principal) bool {
	if rule == RuleOwner {
		return p.Server || p.UserID != ""
	}
	return admits(rule, p)
}

// ACL list names.
const (
	aclRead  = "read"
	aclWrite = "write"
)

// mayAccess reports whether p may read (list aclRead) or write (aclWrite)
// obj under rule. The _acl only extends the owner rule: under the other
// rules access is decided for the whole collection.
func mayAccess(rule string, p Principal, obj Object, list string) bool {
	if admits(rule, p) {
		return true
	}
	if rule != RuleOwner {
		return false
	}
	if p.UserID != "" && obj.Owner() == p.UserID {
		return true
	}
	grants := grantees(p)
	for _, e := range aclList(obj, list) {
		if slices.Contains(grants, e) {
			return true
		}
	}
	return false
}

// grantees are the _acl entries that name p: "*", the user id and each
// of the user's roles.
func grantees(p Principal) []string {
	out := []string{ACLPublic}
	if p.UserID != "" {
		out = append(out, p.UserID)
	}
	for _, r := range p.Roles {
		out = append(out, RolePrefix+r)
	}
	return out
}

// aclList returns the entries of obj's _acl list (read or write).
func aclList(obj Object, list string) []string {
	acl, _ := obj[store.FieldACL].(map[string]any)
	raw, _ := acl[list].([]any)
	out := make([]string, 0, len(raw))
	for _, e := range raw {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// readFilter returns the filter that restricts a query to what p may read
// under rule (nil: everything), or ErrForbidden when p may read nothing.
func readFilter(rule string, p Principal) (store.Filter, error) {
	if admits(rule, p) {
		return nil, nil
	}
	if rule != RuleOwner {
		return nil, ErrForbidden
	}
	grants := make([]any, 0, len(p.Roles)+2)
	for _, g := range grantees(p) {
		grants = append(grants, g)
	}
	aclRule := store.In{Path: store.FieldACL + "." + aclRead, Values: grants}
	if p.UserID == "" {
		return aclRule, nil
	}
	return store.Or{Filters: []store.Filter{
		store.Compare{Path: store.FieldOwner, Op: store.OpEq, Value: p.UserID},
		aclRule,
	}}, nil
}
