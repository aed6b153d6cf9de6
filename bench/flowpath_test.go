package bench

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/internal/server"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
)

// BenchmarkFlowHandler: the node's handler for a cached flow hit, called
// in process (no network), to count what the request path itself costs.
func BenchmarkFlowHandler(b *testing.B) {
	up := upstream(b)
	node := &server.Options{Auth: auth.Config{Password: auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1}}}
	s := testnode.Start(b, testnode.Options{Node: node, Configure: noRateLimits})
	app := s.CreateApp(b, "bench")
	key := app.Env(b, "dev").AppKey
	admin := map[string]string{"Authorization": "Bearer " + s.AdminToken(b)}
	envPath := "/admin/api/apps/" + app.ID + "/environments/dev"
	s.Do(b, http.MethodPut, envPath+"/variables", map[string]any{"UPSTREAM": up}, admin)
	if resp, body := s.Do(b, http.MethodPost, envPath+"/deployments", map[string]any{"files": map[string]string{"flows.yaml": benchBundle}}, admin); resp.StatusCode != http.StatusCreated {
		b.Fatalf("deploy: %d %s", resp.StatusCode, body)
	}
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
