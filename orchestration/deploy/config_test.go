package deploy_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/orchestration/deploy"
	"github.com/skybridgehq/skybridge/store"
)

// TestVariablesRoundTrip: what is put comes back (JSON types kept, keys
// the store could not hold as fields included), a PUT replaces, and the
// live plan is rebuilt with the new variables.
func TestVariablesRoundTrip(t *testing.T) {
	onStores(t, func(t *testing.T, sys store.DB) {
		ctx := context.Background()
		n := newNode(t, sys)
		if got, err := n.svc.Variables(ctx, "app1", "dev"); err != nil || len(got) != 0 {
			t.Fatalf("variables of a new environment = %v, %v", got, err)
		}
		vars := map[string]any{
			"BASE_URL": "https://erp.example.com",
			"RETRIES":  int64(3),
			"RATIO":    0.25,
			"ENABLED":  true,
			"NOTHING":  nil,
			"HOSTS":    []any{"a", "b"},
			"MAP":      map[string]any{"a.b": "dotted", "$x": int64(1)},
		}
		got, err := n.svc.SetVariables(ctx, "app1", "dev", vars)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, vars) {
			t.Errorf("SetVariables = %#v", got)
		}
		if got, err := n.svc.Variables(ctx, "app1", "dev"); err != nil || !reflect.DeepEqual(got, vars) {
			t.Errorf("Variables = %#v, %v; want %#v", got, err, vars)
		}
		if _, err := n.svc.Deploy(ctx, "app1", "dev", map[string]string{"a.yaml": flow("a", "url: ${env.BASE_URL}\n")}, "a"); err != nil {
			t.Fatal(err)
		}
		_, before := n.live(t, "app1", "dev")
		if _, err := n.svc.SetVariables(ctx, "app1", "dev", map[string]any{"BASE_URL": "https://erp2.example.com"}); err != nil {
			t.Fatal(err)
		}
		v, after := n.live(t, "app1", "dev")
		if v != 1 || after == before || after.Env.Vars["BASE_URL"] != "https://erp2.example.com" || len(after.Env.Vars) != 1 {
			t.Errorf("after a variable change: v%d vars %v", v, after.Env.Vars)
		}
		if before.Closes() != 1 {
			t.Errorf("the replaced plan was closed %d times", before.Closes())
		}
		// Refusals name the variable and change nothing.
		for _, bad := range []map[string]any{{"1X": "a"}, {"a-b": "a"}, {"": "a"}, {"OK": strings.Repeat("x", deploy.DefaultMaxVariablesBytes)}} {
			if _, err := n.svc.SetVariables(ctx, "app1", "dev", bad); !errors.Is(err, deploy.ErrInvalid) && !errors.Is(err, deploy.ErrTooLarge) {
				t.Errorf("SetVariables(%.40v) = %v", bad, err)
			}
		}
		var ie *deploy.InputError
		if _, err := n.svc.SetVariables(ctx, "app1", "dev", map[string]any{"9lives": 1}); !errors.As(err, &ie) || ie.Field != "variables.9lives" {
			t.Errorf("bad name error = %v", err)
		}
		// Removing a variable the live version needs is refused.
		_, err = n.svc.SetVariables(ctx, "app1", "dev", map[string]any{"OTHER": "x"})
		var me *deploy.MissingError
		if !errors.As(err, &me) || !reflect.DeepEqual(me.Variables, []string{"BASE_URL"}) || me.Version != 1 {
			t.Errorf("removing a needed variable = %v", err)
		}
		if got, _ := n.svc.Variables(ctx, "app1", "dev"); got["BASE_URL"] != "https://erp2.example.com" {
			t.Errorf("a refused change was written: %v", got)
		}
	})
}

// TestSecretsSealed: a secret is stored sealed (its text appears nowhere
// in the stored document), listed by name only, opened for builds, bound
// to its environment and name, and deleted; a secret the live version
// needs cannot be deleted.
func TestSecretsSealed(t *testing.T) {
	onStores(t, func(t *testing.T, sys store.DB) {
		ctx := context.Background()
		n := newNode(t, sys)
		const value = "s3cr3t-Pa55word-value"
		info, err := n.svc.SetSecret(ctx, "app1", "prod", "ERP_PASSWORD", value)
		if err != nil {
			t.Fatal(err)
		}
		if info.Name != "ERP_PASSWORD" || info.UpdatedAt.IsZero() {
			t.Errorf("SetSecret = %+v", info)
		}
		if _, err := n.svc.SetSecret(ctx, "app1", "prod", "UNUSED", "another-secret"); err != nil {
			t.Fatal(err)
		}
		list, err := n.svc.Secrets(ctx, "app1", "prod")
		if err != nil || len(list) != 2 || list[0].Name != "ERP_PASSWORD" || list[1].Name != "UNUSED" {
			t.Fatalf("Secrets = %+v, %v", list, err)
		}
		d, err := sys.Collection("flowEnvironments").Get(ctx, "app1/prod")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(d)
		if strings.Contains(string(raw), value) || strings.Contains(string(raw), "another-secret") {
			t.Fatalf("the stored document holds a secret in clear: %s", raw)
		}
		if _, err := n.svc.Deploy(ctx, "app1", "prod", map[string]string{"a.yaml": flow("a", "password: ${secret.ERP_PASSWORD}\n")}, "a"); err != nil {
			t.Fatal(err)
		}
		if _, plan := n.live(t, "app1", "prod"); plan.Env.Secrets["ERP_PASSWORD"] != value {
			t.Errorf("the plan got secrets %v", plan.Env.Secrets)
		}
		if err := n.svc.DeleteSecret(ctx, "app1", "prod", "ERP_PASSWORD"); !errors.Is(err, deploy.ErrMissingConfig) {
			t.Errorf("deleting a needed secret = %v", err)
		}
		if err := n.svc.DeleteSecret(ctx, "app1", "prod", "UNUSED"); err != nil {
			t.Fatal(err)
		}
		if err := n.svc.DeleteSecret(ctx, "app1", "prod", "UNUSED"); !errors.Is(err, deploy.ErrNotFound) {
			t.Errorf("deleting a missing secret = %v", err)
		}
		// A sealed value moved to another name does not open.
		secrets := d["secrets"].(map[string]any)
		d2, err := sys.Collection("flowEnvironments").Get(ctx, "app1/prod")
		if err != nil {
			t.Fatal(err)
		}
		s2 := d2["secrets"].(map[string]any)
		s2["UNUSED"] = secrets["ERP_PASSWORD"]
		if _, err := sys.Collection("flowEnvironments").Replace(ctx, "app1/prod", 0, d2); err != nil {
			t.Fatal(err)
		}
		if _, err := n.svc.SetVariables(ctx, "app1", "prod", map[string]any{}); err == nil || strings.Contains(err.Error(), value) {
			t.Errorf("a build with a relabelled secret = %v", err)
		}
		for _, bad := range []struct{ name, value, field string }{
			{"bad-name", "x", "name"}, {"OK", "", "value"}, {"OK", strings.Repeat("x", deploy.DefaultMaxSecretBytes+1), "value"}, {"OK", "\xff", "value"},
		} {
			var ie *deploy.InputError
			if _, err := n.svc.SetSecret(ctx, "app1", "prod", bad.name, bad.value); !errors.As(err, &ie) || ie.Field != bad.field {
				t.Errorf("SetSecret(%q) = %v, want an error on %s", bad.name, err, bad.field)
			}
		}
		if strings.Contains(n.log.String(), value) {
			t.Errorf("the log holds a secret")
		}
	})
}
