package objectstore

import (
	"errors"
	"reflect"
	"testing"

	"github.com/skybridgehq/skybridge/store"
)

func TestValidRule(t *testing.T) {
	t.Parallel()
	for _, r := range []string{"public", "authenticated", "owner", "server", "role:editor", "role:a-b_1"} {
		if err := ValidRule(r); err != nil {
			t.Errorf("ValidRule(%q) = %v", r, err)
		}
	}
	for _, r := range []string{"", "Public", "role:", "role:Editor", "role:a b", "owners", "*"} {
		if ValidRule(r) == nil {
			t.Errorf("ValidRule(%q) accepted", r)
		}
	}
}

func TestRuleEvaluation(t *testing.T) {
	t.Parallel()
	owned := Object{store.FieldOwner: "alice"}
	shared := Object{store.FieldOwner: "alice", store.FieldACL: map[string]any{
		"read": []any{"bob", "role:editor"}, "write": []any{"bob"}}}
	public := Object{store.FieldOwner: "alice", store.FieldACL: map[string]any{"read": []any{"*"}}}
	ownerless := Object{}
	tests := []struct {
		rule   string
		p      Principal
		o      Object
		list   string
		create bool // mayCreate
		access bool // mayAccess
	}{
		{"public", anon, ownerless, aclRead, true, true},
		{"public", alice, owned, aclWrite, true, true},
		{"authenticated", anon, owned, aclRead, false, false},
		{"authenticated", bob, owned, aclRead, true, true},
		{"owner", alice, owned, aclRead, true, true},
		{"owner", bob, owned, aclRead, true, false},
		{"owner", anon, owned, aclRead, false, false},
		{"owner", anon, ownerless, aclRead, false, false},
		{"owner", bob, shared, aclRead, true, true},
		{"owner", bob, shared, aclWrite, true, true},
		{"owner", carol, shared, aclRead, true, true},
		{"owner", carol, shared, aclWrite, true, false},
		{"owner", anon, public, aclRead, false, true},
		{"owner", bob, public, aclWrite, true, false},
		{"role:editor", carol, owned, aclRead, true, true},
		{"role:editor", alice, owned, aclRead, false, false}, // the owner too needs the role
		{"role:editor", bob, shared, aclRead, false, false},  // _acl extends only the owner rule
		{"server", alice, owned, aclRead, false, false},
		{"server", server, owned, aclRead, true, true},
		{"owner", server, ownerless, aclWrite, true, true},
		{"role:editor", server, ownerless, aclRead, true, true},
	}
	for _, tt := range tests {
		if got := mayCreate(tt.rule, tt.p); got != tt.create {
			t.Errorf("mayCreate(%q, %+v) = %v, want %v", tt.rule, tt.p, got, tt.create)
		}
		if got := mayAccess(tt.rule, tt.p, tt.o, tt.list); got != tt.access {
			t.Errorf("mayAccess(%q, %+v, %v, %s) = %v, want %v", tt.rule, tt.p, tt.o, tt.list, got, tt.access)
		}
	}
}

func TestReadFilter(t *testing.T) {
	t.Parallel()
	acl := func(vals ...any) store.Filter { return store.In{Path: "_acl.read", Values: vals} }
	tests := []struct {
		rule string
		p    Principal
		want store.Filter
		err  error
	}{
		{"public", anon, nil, nil},
		{"authenticated", alice, nil, nil},
		{"authenticated", anon, nil, ErrForbidden},
		{"role:editor", carol, nil, nil},
		{"role:editor", alice, nil, ErrForbidden},
		{"server", alice, nil, ErrForbidden},
		{"server", server, nil, nil},
		{"owner", server, nil, nil},
		{"owner", anon, acl("*"), nil},
		{"owner", carol, store.Or{Filters: []store.Filter{
			store.Compare{Path: "_owner", Op: store.OpEq, Value: "carol"},
			acl("*", "carol", "role:editor"),
		}}, nil},
	}
	for _, tt := range tests {
		got, err := readFilter(tt.rule, tt.p)
		if !errors.Is(err, tt.err) || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("readFilter(%q, %+v) = %#v, %v; want %#v, %v", tt.rule, tt.p, got, err, tt.want, tt.err)
		}
		if err == nil && got != nil {
			if verr := store.ValidateFilter(got); verr != nil {
				t.Errorf("readFilter(%q) is not a valid filter: %v", tt.rule, verr)
			}
		}
	}
}
