package bench

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkFlowHandler: the node's handler for a cached flow hit, called
// in process (no network), to count what the request path itself costs.
func BenchmarkFlowHandler(b *testing.B) {
	s, key, _ := flowNode(b)
	h := s.Node.API
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		r := httptest.NewRequest(http.MethodGet, "/v1/flows/cached?id=c1", nil)
		r.Header.Set("X-Skybridge-Key", key)
		r.Header.Set("Accept-Encoding", "gzip")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}
