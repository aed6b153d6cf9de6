package objectstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/skybridgehq/skybridge/store"
)

func TestCreateGetSystemFields(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		o := mustCreate(t, s, dev, alice, "todos", `{"title":"milk","n":1,"tags":["a"],"_acl":{"read":["bob"]}}`)
		if o.ID() == "" || o.Version() != 1 || o.Seq() == 0 || o.Owner() != "alice" {
			t.Fatalf("created = %v", o)
		}
		for _, f := range []string{"_createdAt", "_updatedAt", "_acl"} {
			if _, ok := o[f]; !ok {
				t.Errorf("created object lacks %s: %v", f, o)
			}
		}
		got, err := s.Get(ctx, dev, alice, "todos", o.ID())
		if err != nil {
			t.Fatal(err)
		}
		if got["title"] != "milk" || got["n"] != int64(1) || got.Version() != 1 {
			t.Errorf("get = %v", got)
		}
		// A client-chosen id, then the same id again.
		mustCreate(t, s, dev, alice, "todos", `{"_id":"fixed:1","a":1}`)
		_, err = s.Create(ctx, dev, alice, "todos", obj(t, `{"_id":"fixed:1","a":2}`))
		wantField(t, "duplicate id", err, "_id", ErrConflict)
		_, err = s.Create(ctx, dev, alice, "todos", obj(t, `{"_seq":4}`))
		wantField(t, "system field on create", err, "_seq", ErrInvalid)
		_, err = s.Create(ctx, dev, alice, "todos", obj(t, `{"a":{"b.c":1}}`))
		wantField(t, "dotted field", err, "a.b.c", ErrInvalid)
		_, err = s.Create(ctx, dev, alice, "bad/name", obj(t, `{}`))
		wantField(t, "collection name", err, "collection", ErrInvalid)
	})
}

func TestOwnerIsolation(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		a := mustCreate(t, s, dev, alice, "notes", `{"text":"alice's"}`)
		b := mustCreate(t, s, dev, bob, "notes", `{"text":"bob's"}`)
		for _, p := range []Principal{bob, anon, carol} {
			_, err := s.Get(ctx, dev, p, "notes", a.ID())
			wantErr(t, fmt.Sprintf("%s reads alice's note", p.UserID), err, ErrNotFound)
			_, err = s.Replace(ctx, dev, p, "notes", a.ID(), obj(t, `{"text":"mine"}`), 0)
			wantErr(t, "replace by another", err, ErrNotFound)
			_, err = s.Patch(ctx, dev, p, "notes", a.ID(), obj(t, `{"text":"mine"}`), 0)
			wantErr(t, "patch by another", err, ErrNotFound)
			_, err = s.Delete(ctx, dev, p, "notes", a.ID(), 0)
			wantErr(t, "delete by another", err, ErrNotFound)
		}
		page, err := s.List(ctx, dev, alice, "notes", ListQuery{})
		if err != nil || len(page.Items) != 1 || page.Items[0].ID() != a.ID() {
			t.Fatalf("alice lists %v, %v", page.Items, err)
		}
		page, _ = s.List(ctx, dev, bob, "notes", ListQuery{})
		if got := ids(page.Items); len(got) != 1 || got[0] != b.ID() {
			t.Errorf("bob lists %v", got)
		}
		page, _ = s.List(ctx, dev, anon, "notes", ListQuery{})
		if len(page.Items) != 0 {
			t.Errorf("anonymous lists %v", ids(page.Items))
		}
		// A filter cannot widen the read rule.
		f, _ := store.ParseFilter([]byte(`{"$or":[{"_owner":"alice"},{"_owner":{"$exists":true}}]}`))
		page, _ = s.List(ctx, dev, bob, "notes", ListQuery{Filter: f})
		if got := ids(page.Items); len(got) != 1 || got[0] != b.ID() {
			t.Errorf("bob with a widening filter lists %v", got)
		}
		// Anonymous users cannot create under the default rules.
		_, err = s.Create(ctx, dev, anon, "notes", obj(t, `{}`))
		wantErr(t, "anonymous create", err, ErrForbidden)
	})
}

func TestEnvironmentIsolation(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		o := mustCreate(t, s, dev, server, "things", `{"x":1}`)
		other := Env{DB: "app2_dev", AllowClientCreate: true}
		_, err := s.Get(ctx, other, server, "things", o.ID())
		wantErr(t, "get in another environment", err, ErrNotFound)
		// A client collection named like an environment collection reaches
		// only its own objects.
		mustCreate(t, s, dev, server, "objectCollections", `{"_id":"todos","rules":{"read":"public"}}`)
		st, err := s.GetSettings(ctx, dev, "things")
		if err != nil || st.Rules != DefaultRules {
			t.Errorf("settings after writing a look-alike collection: %+v, %v", st, err)
		}
	})
}

func TestACLGrants(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		o := mustCreate(t, s, dev, alice, "docs", `{"t":1,"_acl":{"read":["bob","role:editor"],"write":["bob"]}}`)
		pub := mustCreate(t, s, dev, alice, "docs", `{"t":2,"_acl":{"read":["*"]}}`)
		if _, err := s.Get(ctx, dev, bob, "docs", o.ID()); err != nil {
			t.Errorf("bob (acl read) get: %v", err)
		}
		if _, err := s.Get(ctx, dev, carol, "docs", o.ID()); err != nil {
			t.Errorf("carol (role in acl read) get: %v", err)
		}
		if _, err := s.Get(ctx, dev, anon, "docs", pub.ID()); err != nil {
			t.Errorf("anonymous get of a \"*\" object: %v", err)
		}
		_, err := s.Patch(ctx, dev, carol, "docs", o.ID(), obj(t, `{"t":9}`), 0)
		wantErr(t, "carol (read only) patch", err, ErrForbidden)
		_, err = s.Delete(ctx, dev, carol, "docs", o.ID(), 0)
		wantErr(t, "carol (read only) delete", err, ErrForbidden)
		up, err := s.Patch(ctx, dev, bob, "docs", o.ID(), obj(t, `{"t":3}`), 0)
		if err != nil || up["t"] != int64(3) || up.Owner() != "alice" {
			t.Fatalf("bob (acl write) patch = %v, %v", up, err)
		}
		page, _ := s.List(ctx, dev, carol, "docs", ListQuery{Sort: []store.SortKey{{Path: "t"}}})
		if got := ids(page.Items); len(got) != 2 || got[0] != pub.ID() || got[1] != o.ID() {
			t.Errorf("carol lists %v", got)
		}
		page, _ = s.List(ctx, dev, anon, "docs", ListQuery{})
		if got := ids(page.Items); len(got) != 1 || got[0] != pub.ID() {
			t.Errorf("anonymous lists %v", got)
		}
		// Bob, a writer, removes carol's grant; the owner is kept.
		up, err = s.Patch(ctx, dev, bob, "docs", o.ID(), obj(t, `{"_acl":{"read":["bob"]}}`), 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, dev, carol, "docs", o.ID()); err == nil {
			t.Errorf("carol still reads after losing the grant: %v", up)
		}
		_, err = s.Patch(ctx, dev, bob, "docs", o.ID(), obj(t, `{"_acl":{"read":["role:Nope"]}}`), 0)
		wantField(t, "bad acl entry", err, "_acl.read[0]", ErrInvalid)
		_, err = s.Patch(ctx, dev, bob, "docs", o.ID(), obj(t, `{"_owner":"bob"}`), 0)
		wantField(t, "taking ownership", err, "_owner", ErrInvalid)
	})
}

func TestRoleRules(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		putRules(t, s, prod, "articles", Rules{Read: "public", Create: "role:editor", Update: "role:editor", Delete: "server"})
		_, err := s.Create(ctx, prod, alice, "articles", obj(t, `{"h":"x"}`))
		wantErr(t, "non-editor create", err, ErrForbidden)
		a := mustCreate(t, s, prod, carol, "articles", `{"h":"x"}`)
		if _, err := s.Get(ctx, prod, anon, "articles", a.ID()); err != nil {
			t.Errorf("public read: %v", err)
		}
		_, err = s.Patch(ctx, prod, alice, "articles", a.ID(), obj(t, `{"h":"y"}`), 0)
		wantErr(t, "non-editor patch", err, ErrForbidden)
		if _, err := s.Patch(ctx, prod, carol, "articles", a.ID(), obj(t, `{"h":"y"}`), 0); err != nil {
			t.Errorf("editor patch: %v", err)
		}
		_, err = s.Delete(ctx, prod, carol, "articles", a.ID(), 0)
		wantErr(t, "editor delete under server rule", err, ErrForbidden)
		if _, err := s.Delete(ctx, prod, server, "articles", a.ID(), 0); err != nil {
			t.Errorf("server delete: %v", err)
		}

		putRules(t, s, prod, "drafts", Rules{Read: "role:editor", Create: "authenticated", Update: "owner", Delete: "owner"})
		d := mustCreate(t, s, prod, alice, "drafts", `{"h":1}`)
		_, err = s.List(ctx, prod, alice, "drafts", ListQuery{})
		wantErr(t, "list without the read role", err, ErrForbidden)
		_, err = s.Get(ctx, prod, alice, "drafts", d.ID())
		wantErr(t, "owner get without the read role", err, ErrNotFound)
		page, err := s.List(ctx, prod, carol, "drafts", ListQuery{})
		if err != nil || len(page.Items) != 1 {
			t.Errorf("editor lists %v, %v", page.Items, err)
		}
		_, err = s.Changes(ctx, prod, alice, "drafts", 0, 10)
		wantErr(t, "changes without the read role", err, ErrForbidden)
	})
}

func TestServerBypass(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		putRules(t, s, prod, "locked", Rules{Read: "server", Create: "server", Update: "server", Delete: "server"})
		_, err := s.Create(ctx, prod, alice, "locked", obj(t, `{}`))
		wantErr(t, "client create under server rule", err, ErrForbidden)
		o := mustCreate(t, s, prod, server, "locked", `{"_owner":"alice","x":1}`)
		if o.Owner() != "alice" {
			t.Errorf("server-set owner = %q", o.Owner())
		}
		_, err = s.Get(ctx, prod, alice, "locked", o.ID())
		wantErr(t, "owner get under server rule", err, ErrNotFound)
		n := mustCreate(t, s, dev, alice, "mine", `{"x":1}`)
		if _, err := s.Get(ctx, dev, server, "mine", n.ID()); err != nil {
			t.Errorf("server get of alice's object: %v", err)
		}
		up, err := s.Replace(ctx, dev, server, "mine", n.ID(), obj(t, `{"x":2,"_owner":"bob"}`), 0)
		if err != nil || up.Owner() != "bob" {
			t.Errorf("server ownership change: %v, %v", up, err)
		}
		page, err := s.List(ctx, dev, server, "mine", ListQuery{})
		if err != nil || len(page.Items) != 1 {
			t.Errorf("server lists %v, %v", page.Items, err)
		}
	})
}

func TestClientCreationOfCollections(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		_, err := s.Create(ctx, prod, alice, "fresh", obj(t, `{"a":1}`))
		wantErr(t, "client creates a collection in prod", err, ErrCollectionNotFound)
		if _, err := s.GetSettings(ctx, prod, "fresh"); err == nil {
			t.Errorf("a refused create made the collection")
		}
		page, err := s.List(ctx, prod, alice, "fresh", ListQuery{Count: true})
		if err != nil || len(page.Items) != 0 || *page.Count != 0 {
			t.Errorf("list of a missing collection: %+v, %v", page, err)
		}
		_, err = s.Get(ctx, prod, alice, "fresh", "x")
		wantErr(t, "get in a missing collection", err, ErrNotFound)
		mustCreate(t, s, prod, server, "fresh", `{"a":1}`)
		mustCreate(t, s, prod, alice, "fresh", `{"a":2}`)
		mustCreate(t, s, dev, alice, "fresh", `{"a":3}`)
		st, err := s.GetSettings(ctx, dev, "fresh")
		if err != nil || st.Rules != DefaultRules || st.Conflict != ConflictReject {
			t.Errorf("settings of an implicitly created collection: %+v, %v", st, err)
		}
	})
}

func TestReplacePatchIfMatch(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		o := mustCreate(t, s, dev, alice, "todos", `{"title":"a","meta":{"x":1,"y":2},"list":[1,2]}`)
		_, err := s.Replace(ctx, dev, alice, "todos", o.ID(), obj(t, `{"title":"b"}`), 7)
		wantErr(t, "replace with a stale If-Match", err, ErrPreconditionFailed)
		// A GET-modify-PUT round trip carries the system fields back.
		body := map[string]any(o)
		body["title"] = "b"
		r, err := s.Replace(ctx, dev, alice, "todos", o.ID(), body, o.Version())
		if err != nil {
			t.Fatal(err)
		}
		if r.Version() != 2 || r["title"] != "b" || r.Seq() <= o.Seq() || r["_createdAt"] != o["_createdAt"] {
			t.Errorf("replaced = %v", r)
		}
		// The old body, sent again, now has a stale _v.
		_, err = s.Replace(ctx, dev, alice, "todos", o.ID(), body, 0)
		wantField(t, "stale _v in the body", err, "_v", ErrInvalid)
		_, err = s.Replace(ctx, dev, alice, "todos", o.ID(), obj(t, `{"_id":"other"}`), 0)
		wantField(t, "other _id in the body", err, "_id", ErrInvalid)
		p, err := s.Patch(ctx, dev, alice, "todos", o.ID(), obj(t, `{"meta":{"x":null,"z":3},"list":[9],"title":null,"new":true}`), r.Version())
		if err != nil {
			t.Fatal(err)
		}
		if _, has := p["title"]; has || p["new"] != true || p.Version() != 3 {
			t.Errorf("patched = %v", p)
		}
		if m := p["meta"].(map[string]any); len(m) != 2 || m["y"] != int64(2) || m["z"] != int64(3) {
			t.Errorf("patched meta = %v", m)
		}
		if l := p["list"].([]any); len(l) != 1 || l[0] != int64(9) {
			t.Errorf("patched list = %v", l)
		}
		_, err = s.Patch(ctx, dev, alice, "todos", o.ID(), obj(t, `{"a":1}`), 2)
		wantErr(t, "patch with a stale If-Match", err, ErrPreconditionFailed)
		_, err = s.Patch(ctx, dev, alice, "todos", o.ID(), obj(t, `{"_v":null}`), 0)
		wantField(t, "patch deleting _v", err, "_v", ErrInvalid)
		_, err = s.Delete(ctx, dev, alice, "todos", o.ID(), 1)
		wantErr(t, "delete with a stale If-Match", err, ErrPreconditionFailed)
		_, err = s.Replace(ctx, dev, alice, "todos", "missing", obj(t, `{}`), 0)
		wantErr(t, "replace of a missing object", err, ErrNotFound)
	})
}

func TestTombstones(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		o := mustCreate(t, s, dev, alice, "todos", `{"_id":"t1","title":"a","_acl":{"read":["bob"]}}`)
		keep := mustCreate(t, s, dev, alice, "todos", `{"title":"b"}`)
		ts, err := s.Delete(ctx, dev, alice, "todos", o.ID(), o.Version())
		if err != nil {
			t.Fatal(err)
		}
		if !ts.Deleted() || ts["title"] != nil || ts.Owner() != "alice" || ts.Version() != 2 {
			t.Errorf("tombstone = %v", ts)
		}
		_, err = s.Get(ctx, dev, alice, "todos", o.ID())
		wantErr(t, "get of a deleted object", err, ErrNotFound)
		_, err = s.Delete(ctx, dev, alice, "todos", o.ID(), 0)
		wantErr(t, "second delete", err, ErrNotFound)
		_, err = s.Patch(ctx, dev, alice, "todos", o.ID(), obj(t, `{"a":1}`), 0)
		wantErr(t, "patch of a deleted object", err, ErrNotFound)
		page, _ := s.List(ctx, dev, alice, "todos", ListQuery{Count: true})
		if got := ids(page.Items); len(got) != 1 || got[0] != keep.ID() || *page.Count != 1 {
			t.Errorf("list after delete = %v (count %d)", got, *page.Count)
		}
		// The feed has the tombstone, for those who could read the object.
		for _, p := range []Principal{alice, bob} {
			ch, err := s.Changes(ctx, dev, p, "todos", 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			var seen bool
			for _, c := range ch.Objects {
				if c.ID() == o.ID() {
					seen = c.Deleted() && c.Seq() == ts.Seq()
				}
			}
			if !seen {
				t.Errorf("%s: changes %v lack the tombstone", p.UserID, ch.Objects)
			}
		}
		ch, _ := s.Changes(ctx, dev, carol, "todos", 0, 100)
		if len(ch.Objects) != 0 || ch.Last != ts.Seq() {
			t.Errorf("carol's changes = %v, last %d (want none, last %d)", ch.Objects, ch.Last, ts.Seq())
		}
		// Creating the id again replaces the tombstone.
		again := mustCreate(t, s, dev, bob, "todos", `{"_id":"t1","title":"c"}`)
		if again.Deleted() || again.Owner() != "bob" || again.Version() != 3 {
			t.Errorf("re-created = %v", again)
		}
	})
}

func TestSizeLimit(t *testing.T) {
	t.Parallel()
	forEachStoreCfg(t, Config{MaxObjectBytes: 2048}, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		big := map[string]any{"blob": strings.Repeat("x", 2100)}
		_, err := s.Create(ctx, dev, alice, "files", big)
		wantErr(t, "create over the limit", err, ErrTooLarge)
		o := mustCreate(t, s, dev, alice, "files", `{"blob":"small"}`)
		_, err = s.Patch(ctx, dev, alice, "files", o.ID(), big, 0)
		wantErr(t, "patch over the limit", err, ErrTooLarge)
		if _, err := s.Create(ctx, dev, alice, "files", map[string]any{"blob": strings.Repeat("x", 1800)}); err != nil {
			t.Errorf("create under the limit: %v", err)
		}
	})
}

func TestDefaultsOfConfig(t *testing.T) {
	t.Parallel()
	c := Config{}.withDefaults()
	if c.MaxObjectBytes != 1<<20 || c.SettingsCacheTTL != DefaultSettingsCacheTTL || c.IdempotencyTTL != DefaultIdempotencyTTL || c.Now == nil || c.Logger == nil {
		t.Errorf("defaults = %+v", c)
	}
	c = Config{MaxObjectBytes: 10, SettingsCacheTTL: -1}.withDefaults()
	if c.MaxObjectBytes != 10 || c.SettingsCacheTTL != -1 {
		t.Errorf("set values overridden: %+v", c)
	}
}

func TestOnChange(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []string
	cfg := Config{OnChange: func(_ context.Context, c Change) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, fmt.Sprintf("%s %s/%s %s v%d", c.DB, c.Collection, c.Object.ID(), c.Type, c.Object.Version()))
	}}
	forEachStoreCfg(t, cfg, func(t *testing.T, s *Service) {
		ctx := ctxT(t)
		mu.Lock()
		got = nil
		mu.Unlock()
		mustCreate(t, s, dev, alice, "log", `{"_id":"a","x":1}`)
		if _, err := s.Patch(ctx, dev, alice, "log", "a", obj(t, `{"x":2}`), 0); err != nil {
			t.Fatal(err)
		}
		_, err := s.Patch(ctx, dev, bob, "log", "a", obj(t, `{"x":3}`), 0)
		wantErr(t, "refused patch", err, ErrNotFound)
		if _, err := s.Delete(ctx, dev, alice, "log", "a", 0); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		want := "[app1_dev log/a created v1 app1_dev log/a updated v2 app1_dev log/a deleted v3]"
		if fmt.Sprint(got) != want {
			t.Errorf("changes = %v, want %s", got, want)
		}
	})
}

func TestAnonymousPublicCollection(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		putRules(t, s, prod, "guestbook", Rules{Read: "public", Create: "public", Update: "owner", Delete: "owner"})
		o := mustCreate(t, s, prod, anon, "guestbook", `{"msg":"hi"}`)
		if o.Owner() != "" {
			t.Errorf("anonymous object has owner %q", o.Owner())
		}
		if _, err := s.Get(ctx, prod, bob, "guestbook", o.ID()); err != nil {
			t.Errorf("public read: %v", err)
		}
		// Nobody owns it: only the server key changes it.
		_, err := s.Patch(ctx, prod, anon, "guestbook", o.ID(), obj(t, `{"msg":"x"}`), 0)
		wantErr(t, "anonymous patch of an ownerless object", err, ErrForbidden)
		if _, err := s.Patch(ctx, prod, server, "guestbook", o.ID(), obj(t, `{"msg":"x"}`), 0); err != nil {
			t.Errorf("server patch: %v", err)
		}
	})
}
