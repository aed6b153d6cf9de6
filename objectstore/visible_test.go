package objectstore

import (
	"testing"
)

// CanRead agrees with Get for live objects and tombstones, under the owner
// rule with an _acl, and under role and server rules.
func TestCanRead(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		ctx := ctxT(t)
		mine := mustCreate(t, s, dev, alice, "notes", `{"t":"mine"}`)
		shared := mustCreate(t, s, dev, alice, "notes", `{"t":"shared","_acl":{"read":["bob"]}}`)
		tomb, err := s.Delete(ctx, dev, alice, "notes", shared.ID(), 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name string
			p    Principal
			obj  Object
			want bool
		}{
			{"owner", alice, mine, true},
			{"stranger", bob, mine, false},
			{"anonymous", anon, mine, false},
			{"server", server, mine, true},
			{"acl grantee on the tombstone", bob, tomb, true},
			{"stranger on the tombstone", carol, tomb, false},
		} {
			got, err := s.CanRead(ctx, dev, c.p, "notes", c.obj)
			if err != nil || got != c.want {
				t.Errorf("%s: CanRead = %v, %v; want %v", c.name, got, err, c.want)
			}
			if c.obj.Deleted() {
				continue
			}
			_, err = s.Get(ctx, dev, c.p, "notes", c.obj.ID())
			if (err == nil) != c.want {
				t.Errorf("%s: Get err = %v, CanRead says %v", c.name, err, c.want)
			}
		}

		putRules(t, s, dev, "edits", Rules{Read: "role:editor", Create: RuleAuthenticated, Update: RuleOwner, Delete: RuleOwner})
		e := mustCreate(t, s, dev, alice, "edits", `{"t":"e"}`)
		for p, want := range map[*Principal]bool{&alice: false, &carol: true} {
			if got, err := s.CanRead(ctx, dev, *p, "edits", e); err != nil || got != want {
				t.Errorf("role rule, %+v: CanRead = %v, %v", *p, got, err)
			}
		}
		// A collection nobody created: nothing in it is readable.
		if got, err := s.CanRead(ctx, dev, alice, "ghosts", Object{"_id": "x", "_owner": "alice"}); err != nil || got {
			t.Errorf("missing collection: CanRead = %v, %v", got, err)
		}
	})
}

// CheckReadable refuses a caller the read rule admits to nothing, and
// admits everyone to a collection that does not exist yet.
func TestCheckReadable(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		ctx := ctxT(t)
		putRules(t, s, dev, "staff", Rules{Read: "role:editor", Create: RuleServer, Update: RuleServer, Delete: RuleServer})
		putRules(t, s, dev, "members", Rules{Read: RuleAuthenticated, Create: RuleServer, Update: RuleServer, Delete: RuleServer})
		wantErr(t, "role rule without the role", s.CheckReadable(ctx, dev, alice, "staff"), ErrForbidden)
		wantErr(t, "authenticated rule, anonymous", s.CheckReadable(ctx, dev, anon, "members"), ErrForbidden)
		for _, c := range []struct {
			p   Principal
			col string
		}{{carol, "staff"}, {server, "staff"}, {alice, "members"}, {anon, "notyet"}, {alice, "notyet"}} {
			if err := s.CheckReadable(ctx, dev, c.p, c.col); err != nil {
				t.Errorf("%+v on %s: %v", c.p, c.col, err)
			}
		}
		wantField(t, "bad name", s.CheckReadable(ctx, dev, alice, "1bad"), "collection", ErrInvalid)
	})
}
