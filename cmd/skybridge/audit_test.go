package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/skybridgehq/skybridge/audit"
	"github.com/skybridgehq/skybridge/internal/testenv/testnode"
	"github.com/skybridgehq/skybridge/store"
	"github.com/skybridgehq/skybridge/store/sqlite"
)

// TestAuditVerifyCommand: `skybridge audit verify` passes on an untouched
// trail, then reports an edited record and exits non-zero.
func TestAuditVerifyCommand(t *testing.T) {
	s := testnode.Start(t, testnode.Options{})
	app := s.CreateApp(t, "verified")
	dev := app.Env(t, "dev")
	for i := 0; i < 3; i++ {
		if resp, _ := s.Do(t, "GET", "/v1/auth/me", nil, map[string]string{"X-Skybridge-Key": dev.AppKey}); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("me without token: %d", resp.StatusCode)
		}
	}
	ctx := context.Background()
	if err := s.Node.Shutdown(ctx); err != nil { // flushes the trail
		t.Fatal(err)
	}
	environ := []string{"SKYBRIDGE_DATA_DIR=" + s.Config.DataDir}
	var out, errOut bytes.Buffer
	if code := run([]string{"audit", "verify"}, environ, &out, &errOut); code != 0 {
		t.Fatalf("verify of an untouched trail: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "ok      "+audit.ChainOf(app.ID, "dev")) || !strings.Contains(out.String(), "ok      system") {
		t.Fatalf("verify output:\n%s", out.String())
	}

	// Edit one record behind the server's back: records are stored in
	// segments, documents holding a run of a chain's records, one line
	// each (a hash prefix, then the compact fields, separated by "|", ending in status,
	// latency and request id).
	p, err := sqlite.Open(sqlite.Options{Dir: s.Config.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	sys, err := p.DB(ctx, store.SystemDB)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := store.ParseFilter([]byte(`{"chain":"` + audit.ChainOf(app.ID, "dev") + `"}`))
	page, err := sys.Collection(audit.RecordsCollection).Find(ctx, store.Query{Filter: f, Limit: 1})
	if err != nil || len(page.Docs) == 0 {
		t.Fatalf("find a segment: %v %v", page.Docs, err)
	}
	d := page.Docs[0]
	recs, _ := d["records"].(string)
	edited := strings.Replace(recs, `|401|`, `|200|`, 1)
	if edited == recs {
		t.Fatalf("no 401 record in segment %v", d)
	}
	d["records"] = edited
	if _, err := sys.Collection(audit.RecordsCollection).Replace(ctx, store.DocID(d), 0, d); err != nil {
		t.Fatal(err)
	}
	p.Close()

	out.Reset()
	errOut.Reset()
	code := run([]string{"audit", "verify", "--app", app.ID}, environ, &out, &errOut)
	if code != 1 || !strings.Contains(out.String(), "BROKEN  "+audit.ChainOf(app.ID, "dev")) {
		t.Fatalf("verify of an edited trail: exit %d\n%s%s", code, out.String(), errOut.String())
	}
}
