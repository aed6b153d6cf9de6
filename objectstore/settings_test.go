package objectstore

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

func TestPutSettingsKeepsOmittedKeys(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		_, err := s.GetSettings(ctx, prod, "posts")
		wantErr(t, "settings of a missing collection", err, ErrCollectionNotFound)
		public := "public"
		st, err := s.PutSettings(ctx, prod, "posts", SettingsPatch{Rules: &RulesPatch{Read: &public}})
		if err != nil {
			t.Fatal(err)
		}
		want := DefaultRules
		want.Read = "public"
		if st.Rules != want || st.Conflict != ConflictReject || st.Schema != nil || st.CreatedAt.IsZero() {
			t.Fatalf("new collection settings = %+v", st)
		}
		schema := json.RawMessage(`{"type":"object"}`)
		ttl := 30 * time.Second
		merge := ConflictMergeFields
		idx := []store.Index{{Fields: []string{"n"}}, {Fields: []string{"slug"}, Unique: true}}
		if _, err := s.PutSettings(ctx, prod, "posts", SettingsPatch{Schema: &schema, CacheTTL: &ttl, Conflict: &merge, Indexes: &idx}); err != nil {
			t.Fatal(err)
		}
		role := "role:editor"
		st, err = s.PutSettings(ctx, prod, "posts", SettingsPatch{Rules: &RulesPatch{Update: &role}})
		if err != nil {
			t.Fatal(err)
		}
		want.Update = role
		if st.Rules != want || string(st.Schema) != string(schema) || st.CacheTTL != ttl || st.Conflict != merge || len(st.Indexes) != 2 {
			t.Errorf("after a rules-only patch = %+v", st)
		}
		got, err := s.GetSettings(ctx, prod, "posts")
		if err != nil || got.Rules != st.Rules || string(got.Schema) != string(schema) || got.CacheTTL != ttl || len(got.Indexes) != 2 || !got.Indexes[1].Unique {
			t.Errorf("stored settings = %+v, %v", got, err)
		}
		if _, err := s.PutSettings(ctx, prod, "comments", SettingsPatch{}); err != nil {
			t.Fatal(err)
		}
		all, err := s.ListCollections(ctx, prod)
		if err != nil || len(all) != 2 || all[0].Name != "comments" || all[1].Name != "posts" {
			t.Errorf("ListCollections = %+v, %v", all, err)
		}
	})
}

func TestPutSettingsValidation(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		bad, badSchema, conflict := "everyone", json.RawMessage(`{"type":1}`), "mine-wins"
		ttl := -time.Second
		tooMany := make([]store.Index, maxIndexesPerColl+1)
		for i := range tooMany {
			tooMany[i] = store.Index{Fields: []string{"f" + string(rune('a'+i))}}
		}
		for _, tt := range []struct {
			patch SettingsPatch
			field string
		}{
			{SettingsPatch{Rules: &RulesPatch{Delete: &bad}}, "rules.delete"},
			{SettingsPatch{Schema: &badSchema}, "schema"},
			{SettingsPatch{Conflict: &conflict}, "conflict"},
			{SettingsPatch{CacheTTL: &ttl}, "cache.ttl"},
			{SettingsPatch{Indexes: &[]store.Index{{Fields: []string{"ok"}}, {Fields: []string{"a.$b"}}}}, "indexes[1]"},
			{SettingsPatch{Indexes: &[]store.Index{{Fields: []string{"a"}}, {Fields: []string{"a"}}}}, "indexes[1]"},
			{SettingsPatch{Indexes: &tooMany}, "indexes"},
		} {
			_, err := s.PutSettings(ctx, prod, "c", tt.patch)
			wantField(t, tt.field, err, tt.field, ErrInvalid)
		}
		if _, err := s.GetSettings(ctx, prod, "c"); !errors.Is(err, ErrCollectionNotFound) {
			t.Errorf("a refused PutSettings made the collection: %v", err)
		}
		_, err := s.PutSettings(ctx, prod, "no/slash", SettingsPatch{})
		wantField(t, "collection name", err, "collection", ErrInvalid)
	})
}

func TestUniqueIndexConflicts(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		mustCreate(t, s, dev, alice, "users2", `{"email":"a@x","team":"t1","n":1}`)
		mustCreate(t, s, dev, alice, "users2", `{"email":"a@x","team":"t2","n":1}`)
		// The stored objects break the index: nothing changes.
		u := []store.Index{{Fields: []string{"email"}, Unique: true}}
		_, err := s.PutSettings(ctx, dev, "users2", SettingsPatch{Indexes: &u})
		wantField(t, "unique index over duplicates", err, "indexes[0]", ErrConflict)
		st, _ := s.GetSettings(ctx, dev, "users2")
		if len(st.Indexes) != 0 {
			t.Errorf("indexes after a refused patch = %v", st.Indexes)
		}
		// A compound unique index the objects satisfy.
		u = []store.Index{{Fields: []string{"team", "n"}, Unique: true}, {Fields: []string{"-n"}}}
		if _, err := s.PutSettings(ctx, dev, "users2", SettingsPatch{Indexes: &u}); err != nil {
			t.Fatal(err)
		}
		_, err = s.Create(ctx, dev, bob, "users2", obj(t, `{"team":"t1","n":1}`))
		wantErr(t, "create breaking a unique index", err, ErrConflict)
		o := mustCreate(t, s, dev, bob, "users2", `{"team":"t1","n":2}`)
		_, err = s.Patch(ctx, dev, bob, "users2", o.ID(), obj(t, `{"n":1}`), 0)
		wantErr(t, "patch breaking a unique index", err, ErrConflict)
		// A tombstone frees its unique values.
		if _, err := s.Delete(ctx, dev, bob, "users2", o.ID(), 0); err != nil {
			t.Fatal(err)
		}
		mustCreate(t, s, dev, bob, "users2", `{"team":"t1","n":2}`)
	})
}

func TestSettingsCache(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		mustCreate(t, s, dev, alice, "cached", `{"a":1}`)
		// Another node (another Service on the same store) changes the
		// rules; this node sees it once its cache entry expires.
		other := NewService(s.provider, Config{})
		public := "public"
		if _, err := other.PutSettings(ctx, dev, "cached", SettingsPatch{Rules: &RulesPatch{Read: &public}}); err != nil {
			t.Fatal(err)
		}
		db, _ := s.db(ctx, dev)
		st, _ := s.loadCollection(ctx, db, "cached", false)
		if st.settings.Rules.Read != RuleOwner {
			t.Errorf("cached rule = %q, want the old owner until the TTL", st.settings.Rules.Read)
		}
		st, _ = s.loadCollection(ctx, db, "cached", true)
		if st.settings.Rules.Read != RulePublic {
			t.Errorf("fresh rule = %q", st.settings.Rules.Read)
		}
		// This node's own change is seen at once.
		authn := "authenticated"
		if _, err := s.PutSettings(ctx, dev, "cached", SettingsPatch{Rules: &RulesPatch{Read: &authn}}); err != nil {
			t.Fatal(err)
		}
		st, _ = s.loadCollection(ctx, db, "cached", false)
		if st.settings.Rules.Read != RuleAuthenticated {
			t.Errorf("rule after own change = %q", st.settings.Rules.Read)
		}
	})
}

func TestDropCollection(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, s *Service) {
		t.Parallel()
		ctx := ctxT(t)
		o := mustCreate(t, s, dev, alice, "tmp", `{"a":1}`)
		if err := s.DropCollection(ctx, dev, "tmp"); err != nil {
			t.Fatal(err)
		}
		_, err := s.Get(ctx, dev, alice, "tmp", o.ID())
		wantErr(t, "get after drop", err, ErrNotFound)
		_, err = s.GetSettings(ctx, dev, "tmp")
		wantErr(t, "settings after drop", err, ErrCollectionNotFound)
		err = s.DropCollection(ctx, dev, "tmp")
		wantErr(t, "second drop", err, ErrCollectionNotFound)
		again := mustCreate(t, s, dev, alice, "tmp", `{"a":2}`)
		page, err := s.List(ctx, dev, alice, "tmp", ListQuery{})
		if err != nil || len(page.Items) != 1 || page.Items[0].ID() != again.ID() {
			t.Errorf("list after drop and re-create = %v, %v", page.Items, err)
		}
	})
}
