package deploy

import (
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestConfigWithDefaults(t *testing.T) {
	t.Parallel()
	now := func() time.Time { return time.Unix(1, 0) }
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name string
		in   Config
		want Config
	}{
		{"zero", Config{}, Config{
			RefreshInterval: time.Second, BuildTimeout: 30 * time.Second, MaxBundleBytes: 1 << 20, MaxBundleFiles: 200,
			MaxVariablesBytes: 64 << 10, MaxSecretBytes: 16 << 10, MaxSecrets: 200,
		}},
		{"set", Config{
			RefreshInterval: time.Millisecond, BuildTimeout: time.Minute, MaxBundleBytes: 10, MaxBundleFiles: 2,
			MaxVariablesBytes: 3, MaxSecretBytes: 4, MaxSecrets: 5, Now: now, Logger: log,
		}, Config{
			RefreshInterval: time.Millisecond, BuildTimeout: time.Minute, MaxBundleBytes: 10, MaxBundleFiles: 2,
			MaxVariablesBytes: 3, MaxSecretBytes: 4, MaxSecrets: 5, Now: now, Logger: log,
		}},
		{"negative", Config{RefreshInterval: -1, BuildTimeout: -1, MaxBundleBytes: -1}, Config{
			RefreshInterval: time.Second, BuildTimeout: 30 * time.Second, MaxBundleBytes: 1 << 20, MaxBundleFiles: 200,
			MaxVariablesBytes: 64 << 10, MaxSecretBytes: 16 << 10, MaxSecrets: 200,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.in.withDefaults()
			if got.Now == nil || got.Logger == nil {
				t.Fatalf("withDefaults left Now or Logger nil")
			}
			if tt.want.Now != nil && got.Now().Unix() != 1 || tt.want.Logger != nil && got.Logger != log {
				t.Errorf("withDefaults replaced a set Now or Logger")
			}
			got.Now, got.Logger, tt.want.Now, tt.want.Logger = nil, nil, nil, nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("withDefaults() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestChangesBetween(t *testing.T) {
	t.Parallel()
	doc := func(kind, name, digest string) Document {
		return Document{Kind: kind, Name: name, File: "f.yaml", Digest: digest}
	}
	ref := func(kind, name string) DocumentRef { return DocumentRef{Kind: kind, Name: name} }
	tests := []struct {
		name          string
		before, after []Document
		want          Changes
	}{
		{"first", nil, []Document{doc("Flow", "b", "1"), doc("Flow", "a", "1")},
			Changes{Added: []DocumentRef{ref("Flow", "a"), ref("Flow", "b")}, Removed: []DocumentRef{}, Changed: []DocumentRef{}}},
		{"same", []Document{doc("Flow", "a", "1")}, []Document{doc("Flow", "a", "1")},
			Changes{Added: []DocumentRef{}, Removed: []DocumentRef{}, Changed: []DocumentRef{}}},
		{"mixed",
			[]Document{doc("Flow", "a", "1"), doc("Flow", "b", "1"), doc("Trigger", "a", "1")},
			[]Document{doc("Flow", "a", "2"), doc("Trigger", "a", "1"), doc("Trigger", "c", "1")},
			Changes{Added: []DocumentRef{ref("Trigger", "c")}, Removed: []DocumentRef{ref("Flow", "b")}, Changed: []DocumentRef{ref("Flow", "a")}}},
		{"kind is part of identity", []Document{doc("Flow", "a", "1")}, []Document{doc("Trigger", "a", "1")},
			Changes{Added: []DocumentRef{ref("Trigger", "a")}, Removed: []DocumentRef{ref("Flow", "a")}, Changed: []DocumentRef{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := changesBetween(tt.before, tt.after); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("changesBetween = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestCheckPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path string
		ok   bool
	}{
		{"a.yaml", true},
		{"flows/orders/list.yml", true},
		{"", false},
		{"/abs.yaml", false},
		{"a/../b.yaml", false},
		{"./a.yaml", false},
		{"a//b.yaml", false},
		{`a\b.yaml`, false},
		{"a.json", false},
		{"a\x00.yaml", false},
		{"a\n.yaml", false},
		{"\xff.yaml", false},
		{strings.Repeat("a", MaxPathLen) + ".yaml", false},
	}
	for _, tt := range tests {
		if err := checkPath(tt.path); (err == nil) != tt.ok {
			t.Errorf("checkPath(%q) = %v, want ok %v", tt.path, err, tt.ok)
		}
	}
}

func TestBuildErrorRedactsSecrets(t *testing.T) {
	t.Parallel()
	env := Env{Name: "prod", Secrets: map[string]string{"token": "hunter2-long", "inner": "hunter2", "short": "ab"}}
	err := buildError(env, 3, errors.New("connect with hunter2-long failed; hunter2 refused; ab"))
	msg := err.Error()
	if strings.Contains(msg, "hunter2") || !strings.Contains(msg, "[redacted] failed; [redacted] refused") {
		t.Errorf("build error %q leaks a secret", msg)
	}
	if !errors.Is(err, ErrBuild) {
		t.Errorf("build error does not match ErrBuild")
	}
	var be *BuildError
	if !errors.As(err, &be) || be.Version != 3 || be.Env != "prod" {
		t.Errorf("BuildError = %+v", be)
	}
}
