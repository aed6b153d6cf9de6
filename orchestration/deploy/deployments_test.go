package deploy_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/skybridgehq/skybridge/orchestration/deploy"
	"github.com/skybridgehq/skybridge/store"
)

func refs(pairs ...string) []deploy.DocumentRef {
	out := []deploy.DocumentRef{}
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, deploy.DocumentRef{Kind: pairs[i], Name: pairs[i+1]})
	}
	return out
}

// TestDeployHistoryAndSummary: versions count from 1 per environment, the
// newest is live, the history lists newest first with actor, source and
// the change summary against the version live before.
func TestDeployHistoryAndSummary(t *testing.T) {
	onStores(t, func(t *testing.T, sys store.DB) {
		ctx := context.Background()
		n := newNode(t, sys)
		v1 := map[string]string{
			"flows/a.yaml": flow("a", "steps: []\n"),
			"flows/b.yaml": flow("b", "steps: []\n") + "---\nkind: Trigger\nname: nightly\n",
		}
		d1, err := n.svc.Deploy(ctx, "app1", "dev", v1, "dev@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if d1.Version != 1 || !d1.Live || d1.Source != deploy.SourceDeploy || d1.PreviousLive != 0 || len(d1.Documents) != 3 {
			t.Fatalf("first deployment = %+v", d1)
		}
		if !reflect.DeepEqual(d1.Changes.Added, refs("Flow", "a", "Flow", "b", "Trigger", "nightly")) {
			t.Errorf("first summary = %+v", d1.Changes)
		}
		v2 := map[string]string{
			"flows/a.yaml": flow("a", "steps: [changed]\n"),
			"flows/c.yml":  flow("c", ""),
			"flows/b.yaml": "kind: Trigger\nname: nightly\n",
		}
		d2, err := n.svc.Deploy(ctx, "app1", "dev", v2, "deploy-token:t1")
		if err != nil {
			t.Fatal(err)
		}
		want := deploy.Changes{Added: refs("Flow", "c"), Removed: refs("Flow", "b"), Changed: refs("Flow", "a")}
		if d2.Version != 2 || d2.PreviousLive != 1 || !reflect.DeepEqual(d2.Changes, want) {
			t.Fatalf("second deployment = %+v", d2)
		}
		// Another environment numbers on its own.
		if d, err := n.svc.Deploy(ctx, "app1", "stage", v1, "dev@example.com"); err != nil || d.Version != 1 {
			t.Fatalf("stage deploy = %+v, %v", d, err)
		}
		h, err := n.svc.History(ctx, "app1", "dev", 0, "")
		if err != nil {
			t.Fatal(err)
		}
		if len(h.Items) != 2 || h.Items[0].Version != 2 || !h.Items[0].Live || h.Items[1].Version != 1 || h.Items[1].Live {
			t.Fatalf("history = %+v", h.Items)
		}
		if h.Items[0].Actor != "deploy-token:t1" || h.Items[1].Actor != "dev@example.com" || h.Items[0].CreatedAt.IsZero() {
			t.Errorf("history actors = %q, %q", h.Items[0].Actor, h.Items[1].Actor)
		}
		if !reflect.DeepEqual(h.Items[0].Changes, want) {
			t.Errorf("stored summary = %+v, want %+v", h.Items[0].Changes, want)
		}
		// Pages.
		p1, err := n.svc.History(ctx, "app1", "dev", 1, "")
		if err != nil || len(p1.Items) != 1 || p1.Cursor == "" {
			t.Fatalf("first page = %+v, %v", p1, err)
		}
		p2, err := n.svc.History(ctx, "app1", "dev", 1, p1.Cursor)
		if err != nil || len(p2.Items) != 1 || p2.Items[0].Version != 1 {
			t.Fatalf("second page = %+v, %v", p2, err)
		}
		if _, err := n.svc.History(ctx, "app1", "dev", 1, "garbage!"); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("bad cursor: %v", err)
		}
		version, plan := n.live(t, "app1", "dev")
		if version != 2 || plan.Files["flows/c.yml"] == "" {
			t.Errorf("live plan is version %d with %v", version, plan.Files)
		}
	})
}

// TestDeployRefusesBadBundles: each refusal names what is wrong and
// leaves nothing deployed.
func TestDeployRefusesBadBundles(t *testing.T) {
	onStores(t, func(t *testing.T, sys store.DB) {
		ctx := context.Background()
		n := newNode(t, sys)
		many := map[string]string{}
		for i := 0; i <= deploy.DefaultMaxBundleFiles; i++ {
			many[fmt.Sprintf("f%03d.yaml", i)] = flow(fmt.Sprint("f", i), "")
		}
		tests := []struct {
			name  string
			files map[string]string
			is    error
			check func(t *testing.T, err error)
		}{
			{"empty", map[string]string{}, deploy.ErrInvalid, field("files")},
			{"bad path", map[string]string{"../x.yaml": flow("a", "")}, deploy.ErrInvalid, field(`files["../x.yaml"]`)},
			{"not yaml", map[string]string{"x.txt": flow("a", "")}, deploy.ErrInvalid, field(`files["x.txt"]`)},
			{"too many files", many, deploy.ErrInvalid, field("files")},
			{"too large", map[string]string{"a.yaml": flow("a", "x: "+strings.Repeat("y", deploy.DefaultMaxBundleBytes))}, deploy.ErrTooLarge, field("files")},
			{"invalid document", map[string]string{"ok.yaml": flow("a", ""), "flows/bad.yaml": "kind: Flow\nsteps:\n  - x\n---\nkind: Flow\nname: [1]\n"},
				deploy.ErrInvalidBundle, func(t *testing.T, err error) {
					var ve *deploy.ValidationError
					if !errors.As(err, &ve) || len(ve.Errors) != 2 {
						t.Fatalf("want two file errors, got %v", err)
					}
					want := []deploy.FileError{
						{File: "flows/bad.yaml", Line: 1, Column: 1, Field: "name", Message: "name is required"},
						{File: "flows/bad.yaml", Line: 6, Column: 7, Field: "name", Message: "name must be a non-empty string"},
					}
					if !reflect.DeepEqual(ve.Errors, want) {
						t.Errorf("file errors = %+v, want %+v", ve.Errors, want)
					}
				}},
			{"yaml syntax", map[string]string{"s.yaml": "kind: Flow\nname: a\n  bad: indent\n"}, deploy.ErrInvalidBundle, func(t *testing.T, err error) {
				var ve *deploy.ValidationError
				if !errors.As(err, &ve) || ve.Errors[0].File != "s.yaml" || ve.Errors[0].Line != 3 {
					t.Errorf("syntax error = %v", err)
				}
			}},
			{"missing config", map[string]string{"a.yaml": flow("a", "url: ${env.BASE_URL}/x\ntoken: ${secret.API_TOKEN}\nalso: ${env.REGION}\n")},
				deploy.ErrMissingConfig, func(t *testing.T, err error) {
					var me *deploy.MissingError
					if !errors.As(err, &me) || !reflect.DeepEqual(me.Variables, []string{"BASE_URL", "REGION"}) || !reflect.DeepEqual(me.Secrets, []string{"API_TOKEN"}) {
						t.Errorf("missing = %+v", me)
					}
				}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := n.svc.Deploy(ctx, "app1", "dev", tt.files, "a@example.com")
				if !errors.Is(err, tt.is) {
					t.Fatalf("Deploy = %v, want %v", err, tt.is)
				}
				tt.check(t, err)
			})
		}
		h, err := n.svc.History(ctx, "app1", "dev", 0, "")
		if err != nil || len(h.Items) != 0 {
			t.Errorf("refused bundles left history %+v, %v", h.Items, err)
		}
		if _, err := n.svc.Acquire(ctx, "app1", "dev"); !errors.Is(err, deploy.ErrNoDeployment) {
			t.Errorf("Acquire after refusals = %v, want ErrNoDeployment", err)
		}
		if len(n.builder.Plans()) != 0 {
			t.Errorf("%d plans were built for refused bundles", len(n.builder.Plans()))
		}
	})
}

// field checks that err is an *InputError on the named field.
func field(name string) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var ie *deploy.InputError
		if !errors.As(err, &ie) || ie.Field != name {
			t.Errorf("error %v does not name field %s", err, name)
		}
	}
}

// TestPromote: a version's files go unchanged to another environment,
// checked against that environment's variables and secrets.
func TestPromote(t *testing.T) {
	onStores(t, func(t *testing.T, sys store.DB) {
		ctx := context.Background()
		n := newNode(t, sys)
		files := map[string]string{"a.yaml": flow("a", "url: ${env.BASE_URL}\nkey: ${secret.KEY}\n")}
		if _, err := n.svc.SetVariables(ctx, "app1", "dev", map[string]any{"BASE_URL": "http://dev"}); err != nil {
			t.Fatal(err)
		}
		if _, err := n.svc.SetSecret(ctx, "app1", "dev", "KEY", "dev-key-value"); err != nil {
			t.Fatal(err)
		}
		if _, err := n.svc.Deploy(ctx, "app1", "dev", files, "a@example.com"); err != nil {
			t.Fatal(err)
		}
		_, err := n.svc.Promote(ctx, "app1", "dev", 1, "prod", "a@example.com")
		var me *deploy.MissingError
		if !errors.As(err, &me) || me.Env != "prod" || !reflect.DeepEqual(me.Variables, []string{"BASE_URL"}) || !reflect.DeepEqual(me.Secrets, []string{"KEY"}) {
			t.Fatalf("promote without prod config = %v", err)
		}
		if _, err := n.svc.Promote(ctx, "app1", "dev", 7, "prod", "a@example.com"); !errors.Is(err, deploy.ErrNotFound) {
			t.Errorf("promote of a missing version = %v", err)
		}
		if _, err := n.svc.SetVariables(ctx, "app1", "prod", map[string]any{"BASE_URL": "http://prod"}); err != nil {
			t.Fatal(err)
		}
		if _, err := n.svc.SetSecret(ctx, "app1", "prod", "KEY", "prod-key-value"); err != nil {
			t.Fatal(err)
		}
		d, err := n.svc.Promote(ctx, "app1", "dev", 1, "prod", "b@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if d.Version != 1 || d.Source != deploy.SourcePromote || d.Origin == nil || *d.Origin != (deploy.Origin{Env: "dev", Version: 1}) || d.Actor != "b@example.com" {
			t.Fatalf("promoted = %+v", d)
		}
		version, plan := n.live(t, "app1", "prod")
		if version != 1 || !reflect.DeepEqual(plan.Files, files) || plan.Env.Vars["BASE_URL"] != "http://prod" || plan.Env.Secrets["KEY"] != "prod-key-value" {
			t.Errorf("prod plan = v%d %+v", version, plan)
		}
	})
}

// TestRollback: the version live before goes live again as a new version;
// a second rollback undoes the first.
func TestRollback(t *testing.T) {
	onStores(t, func(t *testing.T, sys store.DB) {
		ctx := context.Background()
		n := newNode(t, sys)
		if _, err := n.svc.Rollback(ctx, "app1", "dev", "a"); !errors.Is(err, deploy.ErrNoDeployment) {
			t.Errorf("rollback of nothing = %v", err)
		}
		one := map[string]string{"a.yaml": flow("a", "v: 1\n")}
		two := map[string]string{"a.yaml": flow("a", "v: 2\n")}
		if _, err := n.svc.Deploy(ctx, "app1", "dev", one, "a"); err != nil {
			t.Fatal(err)
		}
		if _, err := n.svc.Rollback(ctx, "app1", "dev", "a"); !errors.Is(err, deploy.ErrNoPrevious) {
			t.Errorf("rollback of the first version = %v", err)
		}
		if _, err := n.svc.Deploy(ctx, "app1", "dev", two, "a"); err != nil {
			t.Fatal(err)
		}
		d3, err := n.svc.Rollback(ctx, "app1", "dev", "ops@example.com")
		if err != nil {
			t.Fatal(err)
		}
		if d3.Version != 3 || d3.Source != deploy.SourceRollback || *d3.Origin != (deploy.Origin{Env: "dev", Version: 1}) || d3.PreviousLive != 2 {
			t.Fatalf("rollback = %+v", d3)
		}
		if !reflect.DeepEqual(d3.Changes.Changed, refs("Flow", "a")) {
			t.Errorf("rollback summary = %+v", d3.Changes)
		}
		if v, plan := n.live(t, "app1", "dev"); v != 3 || !reflect.DeepEqual(plan.Files, one) {
			t.Errorf("after rollback: v%d %v", v, plan.Files)
		}
		d4, err := n.svc.Rollback(ctx, "app1", "dev", "ops@example.com")
		if err != nil || d4.Version != 4 || d4.Origin.Version != 2 {
			t.Fatalf("second rollback = %+v, %v", d4, err)
		}
		if v, plan := n.live(t, "app1", "dev"); v != 4 || !reflect.DeepEqual(plan.Files, two) {
			t.Errorf("after second rollback: v%d %v", v, plan.Files)
		}
	})
}

// TestConcurrentDeploysOnTwoNodes: two Services on one store deploying at
// once never share a version number, and both end on the same live
// version: the highest.
func TestConcurrentDeploysOnTwoNodes(t *testing.T) {
	onStores(t, func(t *testing.T, sys store.DB) {
		ctx := context.Background()
		nodes := []*node{newNode(t, sys), newNode(t, sys)}
		const each = 6
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			versions []int
			errs     []error
		)
		for i, n := range nodes {
			for j := 0; j < each; j++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d, err := n.svc.Deploy(ctx, "app1", "dev", map[string]string{"a.yaml": flow("a", fmt.Sprintf("from: %d-%d\n", i, j))}, fmt.Sprint("node", i))
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						errs = append(errs, err)
						return
					}
					versions = append(versions, d.Version)
				}()
			}
		}
		wg.Wait()
		if len(errs) > 0 {
			t.Fatalf("deploys failed: %v", errs)
		}
		sort.Ints(versions)
		for i, v := range versions {
			if v != i+1 {
				t.Fatalf("versions %v are not 1..%d, each once", versions, 2*each)
			}
		}
		for i, n := range nodes {
			if err := n.svc.Refresh(ctx, "app1", "dev"); err != nil {
				t.Fatal(err)
			}
			if v, _ := n.live(t, "app1", "dev"); v != 2*each {
				t.Errorf("node %d serves version %d, want %d", i, v, 2*each)
			}
		}
		h, err := n0(nodes).svc.History(ctx, "app1", "dev", 0, "")
		if err != nil {
			t.Fatal(err)
		}
		live := 0
		for _, d := range h.Items {
			if d.Live {
				live++
				if d.Version != 2*each {
					t.Errorf("history marks version %d live", d.Version)
				}
			}
			if d.PreviousLive != d.Version-1 {
				t.Errorf("version %d follows %d", d.Version, d.PreviousLive)
			}
		}
		if live != 1 || len(h.Items) != 2*each {
			t.Errorf("history has %d versions, %d live", len(h.Items), live)
		}
	})
}

func n0(nodes []*node) *node { return nodes[0] }
