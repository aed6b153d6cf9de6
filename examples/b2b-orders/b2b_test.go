// Package b2borders runs the example B2B order app of flows/ against
// local stand-ins for its three systems: an inventory REST API, a CRM
// speaking SOAP 1.1 with WS-Security, and a billing database (a SQLite
// file through the sql connector).
package b2borders

import (
	"context"
	dbsql "database/sql"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/skybridgehq/skybridge/internal/testenv"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	os.Exit(code)
}

// inventory is the warehouse's REST API: items with stock and price,
// reservations that take stock.
type inventory struct {
	mu    sync.Mutex
	stock map[string]int
	gets  int
	next  int
}

func (inv *inventory) handler(key string) http.Handler {
	mux := http.NewServeMux()
	prices := map[string]float64{"BOLT-M8": 0.25, "PUMP-X2": 480}
	mux.HandleFunc("GET /items/{sku}", func(w http.ResponseWriter, r *http.Request) {
		inv.mu.Lock()
		defer inv.mu.Unlock()
		inv.gets++
		sku := r.PathValue("sku")
		n, ok := inv.stock[sku]
		if r.Header.Get("X-Api-Key") != key {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if !ok {
			http.Error(w, `{"error":"no such item"}`, http.StatusNotFound)
			return
		}
		writeJSON(w, map[string]any{"sku": sku, "name": strings.ToLower(sku), "stock": n, "price": prices[sku]})
	})
	mux.HandleFunc("POST /reservations", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			SKU      string
			Qty      int
			Customer string
		}
		if r.Header.Get("X-Api-Key") != key || json.NewDecoder(r.Body).Decode(&req) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		inv.mu.Lock()
		defer inv.mu.Unlock()
		inv.stock[req.SKU] -= req.Qty
		inv.next++
		writeJSON(w, map[string]any{"id": fmt.Sprintf("R-%d", inv.next)})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// crm is the SOAP 1.1 customer service; it wants a UsernameToken of user
// "flows" (the digest is the connector's, checked in its own tests).
func crm(w http.ResponseWriter, r *http.Request) {
	var env struct {
		Header struct {
			Security struct {
				UsernameToken struct{ Username string } `xml:"UsernameToken"`
			} `xml:"Security"`
		} `xml:"Header"`
		Body struct {
			GetCustomer struct {
				ID string `xml:"id"`
			} `xml:"GetCustomer"`
		} `xml:"Body"`
	}
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	fault := func(code, msg string) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:%s</faultcode><faultstring>%s</faultstring></s:Fault></s:Body></s:Envelope>`, code, msg)
	}
	if xml.Unmarshal(body, &env) != nil || env.Header.Security.UsernameToken.Username != "flows" {
		fault("Client", "not authenticated")
		return
	}
	customers := map[string][3]string{"ACME": {"Acme Corp", "gold", "1000"}, "TINY": {"Tiny Ltd", "silver", "100"}}
	c, ok := customers[env.Body.GetCustomer.ID]
	if !ok {
		fault("Client.NotFound", "no such customer")
		return
	}
	fmt.Fprintf(w, `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><c:GetCustomerResponse xmlns:c="urn:example:crm"><c:customer><c:name>%s</c:name><c:tier>%s</c:tier><c:creditLimit>%s</c:creditLimit></c:customer></c:GetCustomerResponse></s:Body></s:Envelope>`, c[0], c[1], c[2])
}

// readBundle reads flows/ as a deployment's files.
func readBundle(t *testing.T) map[string]string {
	files := map[string]string{}
	err := filepath.WalkDir("flows", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		files[filepath.ToSlash(strings.TrimPrefix(p, "flows"+string(filepath.Separator)))] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestB2BOrders deploys flows/ to dev and runs the app's calls: the
// catalog (cached), a customer overview (SOAP and SQL side by side) and
// orders (stock and credit checks, a reservation, an invoice).
func TestB2BOrders(t *testing.T) {
	inv := &inventory{stock: map[string]int{"BOLT-M8": 5000, "PUMP-X2": 3}}
	invSrv := httptest.NewServer(inv.handler("inv-key-1"))
	t.Cleanup(invSrv.Close)
	crmSrv := httptest.NewServer(http.HandlerFunc(crm))
	t.Cleanup(crmSrv.Close)
	billingPath := filepath.Join(t.TempDir(), "billing.db")
	db, err := dbsql.Open("sqlite", billingPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, q := range []string{
		"CREATE TABLE invoices (id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, amount REAL NOT NULL, status TEXT NOT NULL)",
		"INSERT INTO invoices VALUES ('I-1', 'ACME', 300, 'open'), ('I-2', 'ACME', 150, 'paid'), ('I-3', 'TINY', 90, 'open')",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}

	s := testnode.Start(t, testnode.Options{})
	app := s.CreateApp(t, "b2b")
	dev := app.Env(t, "dev")
	admin := map[string]string{"Authorization": "Bearer " + s.AdminToken(t)}
	env := "/admin/api/apps/" + app.ID + "/environments/dev"
	do := func(method, path string, body any, h map[string]string, want int) map[string]any {
		t.Helper()
		resp, b := s.Do(t, method, path, body, h)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, b, want)
		}
		var out map[string]any
		_ = json.Unmarshal(b, &out)
		return out
	}
	do("PUT", env+"/variables", map[string]any{"INVENTORY_URL": invSrv.URL, "CRM_SOAP_URL": crmSrv.URL, "CRM_USER": "flows", "BILLING_DRIVER": "sqlite"}, admin, 200)
	for name, value := range map[string]string{"INVENTORY_KEY": "inv-key-1", "CRM_PASSWORD": "crm-pass-1", "BILLING_DSN": "file:" + billingPath} {
		do("PUT", env+"/secrets/"+name, map[string]string{"value": value}, admin, 200)
	}
	dep := do("POST", env+"/deployments", map[string]any{"files": readBundle(t)}, admin, 201)
	if dep["version"] != 1.0 {
		t.Fatalf("deployment: %v", dep)
	}

	key := map[string]string{"X-Skybridge-Key": dev.AppKey}
	// The catalog: cached for everyone.
	item := do("GET", "/v1/flows/catalog-item?sku=PUMP-X2", nil, key, 200)
	if item["price"] != 480.0 || item["inStock"] != true {
		t.Fatalf("catalog item: %v", item)
	}
	do("GET", "/v1/flows/catalog-item?sku=PUMP-X2", nil, key, 200)
	if inv.gets != 1 {
		t.Fatalf("the second catalog call reached the inventory (%d calls)", inv.gets)
	}
	do("GET", "/v1/flows/catalog-item?sku=NOPE", nil, key, 404)

	// A sales rep signs in.
	rep := do("POST", "/v1/auth/signup", map[string]string{"email": "rep@example.com", "password": "violet tractor at noon"}, key, 201)
	user := map[string]string{"X-Skybridge-Key": dev.AppKey, "Authorization": "Bearer " + rep["accessToken"].(string)}
	do("GET", "/v1/flows/customer-overview?customerId=ACME", nil, key, 401)
	ov := do("GET", "/v1/flows/customer-overview?customerId=ACME", nil, user, 200)
	if ov["name"] != "Acme Corp" || ov["tier"] != "gold" || ov["openInvoices"] != 1.0 || ov["owed"] != 300.0 || ov["creditLeft"] != 700.0 {
		t.Fatalf("customer overview: %v", ov)
	}
	do("GET", "/v1/flows/customer-overview?customerId=NOBODY", nil, user, 404)

	// Orders: one that fits, one over the credit limit, one out of stock.
	order := do("POST", "/v1/flows/place-order", map[string]any{"customerId": "ACME", "sku": "BOLT-M8", "qty": 400}, user, 200)
	if order["orderId"] != "R-1" || order["amount"] != 100.0 || order["creditLeft"] != 600.0 {
		t.Fatalf("order: %v", order)
	}
	p := do("POST", "/v1/flows/place-order", map[string]any{"customerId": "ACME", "sku": "PUMP-X2", "qty": 2}, user, 402)
	if !strings.Contains(p["detail"].(string), "960") {
		t.Fatalf("credit problem: %v", p)
	}
	do("POST", "/v1/flows/place-order", map[string]any{"customerId": "TINY", "sku": "PUMP-X2", "qty": 4}, user, 409)
	do("POST", "/v1/flows/place-order", map[string]any{"customerId": "ACME", "sku": "BOLT-M8", "qty": 0}, user, 400)
	// The booked order is an open invoice now.
	ov = do("GET", "/v1/flows/customer-overview?customerId=ACME", nil, user, 200)
	if ov["openInvoices"] != 2.0 || ov["owed"] != 400.0 {
		t.Fatalf("overview after the order: %v", ov)
	}
	var n int
	if err := db.QueryRowContext(context.Background(), "SELECT count(*) FROM invoices WHERE id = 'R-1' AND amount = 100").Scan(&n); err != nil || n != 1 {
		t.Fatalf("invoice R-1 in billing: %d, %v", n, err)
	}
	if inv.stock["BOLT-M8"] != 4600 {
		t.Fatalf("stock after the order: %d", inv.stock["BOLT-M8"])
	}
}
