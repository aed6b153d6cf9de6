package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/internal/server"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
)

// upstream starts the zero-latency REST fake the flow benchmarks call:
// a customer, its orders and its tickets, as small JSON answers.
func upstream(b *testing.B) string {
	r := chi.NewRouter()
	r.Get("/customers/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"`+chi.URLParam(r, "id")+`","fullName":"Ada Lovelace","email":"ada@example.com","erpId":"E-17"}`)
	})
	r.Get("/orders", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"rows":[{"ORDER_NO":"A-1","AMOUNT":12.5},{"ORDER_NO":"A-2","AMOUNT":99}]}`)
	})
	r.Get("/tickets", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"open":2}`)
	})
	return serve(b, r)
}

// serve runs h on a loopback port until the benchmark ends.
func serve(b *testing.B, h http.Handler) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// benchBundle is the flow the benchmarks run: three calls (the second and
// third after the first, as a real flow chains them) and a reshaped
// answer; "cached" is the same flow with a cache.
const benchBundle = `apiVersion: skybridge/v1
kind: Connector
name: crm
type: rest
config:
  baseURL: "${env.UPSTREAM}"
  timeout: 2s
  concurrency: 256
operations:
  getCustomer: {method: GET, path: "/customers/{id}"}
  listOrders: {method: GET, path: "/orders?customer={customer}"}
  openTickets: {method: GET, path: "/tickets?email={email}"}
---
apiVersion: skybridge/v1
kind: Flow
name: customer
auth: public
input: {id: {type: string, required: true}}
steps:
  - {id: customer, call: crm.getCustomer, with: {id: "${input.id}"}}
  - {id: orders, call: crm.listOrders, with: {customer: "${steps.customer.erpId}"}}
  - {id: tickets, call: crm.openTickets, with: {email: "${steps.customer.email}"}}
output:
  name: "${steps.customer.fullName}"
  orders: "${map(steps.orders.rows, ({id: #.ORDER_NO, total: #.AMOUNT}))}"
  openTickets: "${steps.tickets.open}"
---
apiVersion: skybridge/v1
kind: Flow
name: cached
auth: public
input: {id: {type: string, required: true}}
cache: {key: "${input.id}", ttl: 1h}
steps:
  - {id: customer, call: crm.getCustomer, with: {id: "${input.id}"}}
  - {id: orders, call: crm.listOrders, with: {customer: "${steps.customer.erpId}"}}
  - {id: tickets, call: crm.openTickets, with: {email: "${steps.customer.email}"}}
output:
  name: "${steps.customer.fullName}"
  orders: "${map(steps.orders.rows, ({id: #.ORDER_NO, total: #.AMOUNT}))}"
  openTickets: "${steps.tickets.open}"
`

// proxyAnswer is what the hand-written proxy and the flow answer.
type proxyAnswer struct {
	Name        string           `json:"name"`
	Orders      []map[string]any `json:"orders"`
	OpenTickets float64          `json:"openTickets"`
}

// getJSON GETs url into v.
func getJSON(c *http.Client, url string, v any) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// chiProxy is the baseline of the 3-call flow: a bare chi handler making
// the same three calls in the same order and answering the same JSON.
func chiProxy(up string) http.Handler {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}, Timeout: 2 * time.Second}
	r := chi.NewRouter()
	r.Get("/customer", func(w http.ResponseWriter, r *http.Request) {
		var cust struct{ FullName, Email, ErpID string }
		var orders struct {
			Rows []struct {
				OrderNo string  `json:"ORDER_NO"`
				Amount  float64 `json:"AMOUNT"`
			}
		}
		var tickets struct{ Open float64 }
		id := r.URL.Query().Get("id")
		if err := getJSON(c, up+"/customers/"+id, &cust); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if err := getJSON(c, up+"/orders?customer="+cust.ErpID, &orders); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if err := getJSON(c, up+"/tickets?email="+cust.Email, &tickets); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out := proxyAnswer{Name: cust.FullName, OpenTickets: tickets.Open}
		for _, o := range orders.Rows {
			out.Orders = append(out.Orders, map[string]any{"id": o.OrderNo, "total": o.Amount})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	return r
}

// chiStatic is the baseline of the cached flow: a bare chi handler
// answering the flow's JSON from memory.
func chiStatic() http.Handler {
	body := []byte(`{"name":"Ada Lovelace","openTickets":2,"orders":[{"id":"A-1","total":12.5},{"id":"A-2","total":99}]}` + "\n")
	r := chi.NewRouter()
	r.Get("/customer", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	return r
}

// flowNode starts a node (its defaults, rate limits off) whose dev
// environment runs benchBundle against the REST fake, and returns it with
// the dev app key and the fake's URL.
func flowNode(b *testing.B) (s *testnode.Server, key, up string) {
	up = upstream(b)
	node := &server.Options{Auth: auth.Config{Password: auth.PasswordParams{Memory: 1024, Time: 1, Threads: 1}}}
	s = testnode.Start(b, testnode.Options{Node: node, Configure: noRateLimits})
	app := s.CreateApp(b, "bench")
	key = app.Env(b, "dev").AppKey
	admin := map[string]string{"Authorization": "Bearer " + s.AdminToken(b)}
	envPath := "/admin/api/apps/" + app.ID + "/environments/dev"
	if resp, body := s.Do(b, http.MethodPut, envPath+"/variables", map[string]any{"UPSTREAM": up}, admin); resp.StatusCode != http.StatusOK {
		b.Fatalf("variables: %d %s", resp.StatusCode, body)
	}
	if resp, body := s.Do(b, http.MethodPost, envPath+"/deployments", map[string]any{"files": map[string]string{"flows.yaml": benchBundle}}, admin); resp.StatusCode != http.StatusCreated {
		b.Fatalf("deploy: %d %s", resp.StatusCode, body)
	}
	return s, key, up
}

// flowRound is how many requests one side of a pair serves before the
// other takes its turn.
const flowRound = 1000

// BenchmarkFlows: a 3-call flow over the zero-latency REST fake against a
// bare chi handler proxying the same three calls, and the cached flow
// against a bare chi handler answering the same JSON; 32 clients. The two
// sides of a pair serve alternating rounds of flowRound requests, so that
// background load on this shared machine hits both alike, and each
// sub-benchmark reports both rates and their ratio (flow/chi; goals 0.5
// and 0.7). The node runs its defaults (SQLite, in-process cache, audit
// on) with the rate limits off.
func BenchmarkFlows(b *testing.B) {
	s, key, up := flowNode(b)
	proxy, static := serve(b, chiProxy(up)), serve(b, chiStatic())
	keyed := map[string]string{"X-Skybridge-Key": key}
	b.Run("flow=three-calls", func(b *testing.B) {
		alternate(b, s.URL+"/v1/flows/customer?id=c1", keyed, proxy+"/customer?id=c1")
	})
	b.Run("flow=cached", func(b *testing.B) {
		alternate(b, s.URL+"/v1/flows/cached?id=c1", keyed, static+"/customer?id=c1")
	})
}

// alternate serves b.N GETs of subject (with headers) and b.N of base in
// alternating rounds from 32 clients, and reports subject-ops/s,
// base-ops/s and subject/base.
func alternate(b *testing.B, subject string, headers map[string]string, base string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var busy, cpu [2]time.Duration
	served := 0
	round := func(url string, h map[string]string, n int) (wall, used time.Duration) {
		var next atomic.Int64
		var wg sync.WaitGroup
		t0, c0 := time.Now(), processCPU()
		for range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(n) {
					r, _ := http.NewRequest(http.MethodGet, url, nil)
					for k, v := range h {
						r.Header.Set(k, v)
					}
					resp, err := client.Do(r)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("%s: status %d", url, resp.StatusCode)
						return
					}
				}
			}()
		}
		wg.Wait()
		return time.Since(t0), processCPU() - c0
	}
	round(subject, headers, 200) // warm both up
	round(base, nil, 200)
	b.ReportAllocs()
	b.ResetTimer()
	for left := b.N; left > 0; left -= flowRound {
		n := min(left, flowRound)
		w, c := round(subject, headers, n)
		busy[0], cpu[0] = busy[0]+w, cpu[0]+c
		w, c = round(base, nil, n)
		busy[1], cpu[1] = busy[1]+w, cpu[1]+c
		served += n
	}
	b.StopTimer()
	sub, bas := float64(served)/busy[0].Seconds(), float64(served)/busy[1].Seconds()
	b.ReportMetric(sub, "flow-ops/s")
	b.ReportMetric(bas, "chi-ops/s")
	b.ReportMetric(sub/bas, "flow/chi")
	// The process's CPU per request (clients and servers alike) of each
	// side: less swayed by other work on a shared machine than the rates,
	// which depend on the share of the cores the run gets.
	if cpu[0] > 0 {
		b.ReportMetric(cpu[1].Seconds()/cpu[0].Seconds(), "cpu-chi/flow")
	}
}
