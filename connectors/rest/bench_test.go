package rest_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/skybridgehq/skybridge/connectors"
)

// BenchmarkCall measures one GET with a path argument and a JSON answer
// against a local zero-latency server, from 32 concurrent callers (the
// shape of bench's chi baseline).
func BenchmarkCall(b *testing.B) {
	srv := server(b, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"abc","ok":true}`)
	})
	for _, auth := range []string{"none", "bearer"} {
		b.Run("auth="+auth, func(b *testing.B) {
			cfg := map[string]any{"baseURL": srv.URL}
			if auth == "bearer" {
				cfg["auth"] = map[string]any{"type": "bearer", "token": "t"}
			}
			c, _ := connect(b, cfg, ops(map[string]map[string]any{"get": {"path": "/ping/{id}"}}), connectors.Options{})
			req := connectors.Request{Operation: "get", Args: map[string]any{"id": "abc"}}
			b.ReportAllocs()
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := c.Call(context.Background(), req)
					if err != nil || resp.Status != http.StatusOK {
						b.Errorf("%v %v", resp, err)
						return
					}
				}
			})
		})
	}
}
