package api

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestNoStore(t *testing.T) {
	t.Parallel()
	var ifMatch string
	h := NoStore(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ifMatch = r.Header.Get("If-Match")
		w.Header().Set("Cache-Control", "no-store") // handlers may repeat it
	}))
	req := httptest.NewRequest(http.MethodPut, "/", nil)
	req.Header.Set("If-Match", `"4"`)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got := rec.Header().Values("Cache-Control"); len(got) != 1 || got[0] != "no-store" {
		t.Errorf("Cache-Control %v", got)
	}
	if ifMatch != `"4"` {
		t.Errorf("If-Match reached the handler as %q", ifMatch)
	}
}
