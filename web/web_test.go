package web

import (
	"io/fs"
	"strings"
	"testing"
)

// TestAssets checks the embedded build: an index.html that loads its
// script from the hashed assets, and that every asset it names is there.
func TestAssets(t *testing.T) {
	t.Parallel()
	assets := Assets()
	index, err := fs.ReadFile(assets, "index.html")
	if err != nil {
		t.Fatalf("embedded index.html: %v (run make web)", err)
	}
	html := string(index)
	if !strings.Contains(html, `<div id="app">`) {
		t.Errorf("index.html has no app root: %s", html)
	}
	var named int
	for _, part := range strings.Split(html, `"`) {
		if !strings.HasPrefix(part, "/admin/assets/") {
			continue
		}
		named++
		if _, err := fs.Stat(assets, strings.TrimPrefix(part, "/admin/")); err != nil {
			t.Errorf("index.html names %s, which is not embedded: %v", part, err)
		}
	}
	if named == 0 {
		t.Errorf("index.html names no /admin/assets/ file: %s", html)
	}
}
