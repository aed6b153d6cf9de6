package orchestration

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skybridgehq/skybridge/connectors"
)

// httpConnector is a small REST client for tests: baseURL and a bearer
// token from config, `{name}` path placeholders from args, a JSON body and
// headers from the operation's templates, traceparent passed on. Its
// errors quote the URL with the token, as a careless connector might, so
// the engine's redaction is tested.
type httpConnector struct {
	spec connectors.Spec
	hc   *http.Client
}

func (c *httpConnector) Call(ctx context.Context, req connectors.Request) (*connectors.Response, error) {
	op := c.spec.Operations[req.Operation]
	path, _ := op.Static["path"].(string)
	for k, v := range req.Args {
		path = strings.ReplaceAll(path, "{"+k+"}", textOf(v))
	}
	token, _ := c.spec.Config["token"].(string)
	url := c.spec.Config["baseURL"].(string) + path
	scope := map[string]any{"args": req.Args}
	var body io.Reader
	if t := op.Dynamic["body"]; t != nil {
		v, err := t(scope)
		if err != nil {
			return nil, &connectors.Error{Kind: connectors.KindInvalid, Message: err.Error()}
		}
		raw, _ := json.Marshal(v)
		body = bytes.NewReader(raw)
	}
	hreq, err := http.NewRequestWithContext(ctx, op.Static["method"].(string), url, body)
	if err != nil {
		return nil, &connectors.Error{Kind: connectors.KindInvalid, Message: err.Error()}
	}
	hreq.Header.Set("Authorization", "Bearer "+token)
	if h, ok := op.Static["headers"].(map[string]any); ok {
		for k, v := range h {
			hreq.Header.Set(k, textOf(v))
		}
	}
	for path, t := range op.Dynamic {
		if name, ok := strings.CutPrefix(path, "headers."); ok {
			v, _ := t(scope)
			hreq.Header.Set(name, textOf(v))
		}
	}
	if req.Traceparent != "" {
		hreq.Header.Set("traceparent", req.Traceparent)
	}
	resp, err := c.hc.Do(hreq)
	if err != nil {
		return nil, &connectors.Error{Connector: c.spec.Name, Operation: req.Operation, Kind: connectors.KindUnavailable, Message: "call failed", Err: err}
	}
	defer resp.Body.Close()
	var out any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode >= 400 {
		return nil, &connectors.Error{Connector: c.spec.Name, Operation: req.Operation, Kind: connectors.KindStatus, Status: resp.StatusCode,
			Message: "GET " + url + "?access_token=" + token + " failed"}
	}
	return &connectors.Response{Status: resp.StatusCode, Header: resp.Header, Body: out}, nil
}

func (c *httpConnector) Idempotent(op string) bool {
	return c.spec.Operations[op].Static["method"] == "GET"
}
func (c *httpConnector) Close() error { c.hc.CloseIdleConnections(); return nil }

func httpType() connectors.Type {
	return connectors.Type{
		Validate: func(connectors.Spec) []connectors.FieldError { return nil },
		New: func(spec connectors.Spec, _ connectors.Options) (connectors.Connector, error) {
			if _, ok := spec.Config["baseURL"].(string); !ok {
				return nil, errors.New("baseURL missing")
			}
			return &httpConnector{spec: spec, hc: &http.Client{}}, nil
		},
	}
}

const httpBundle = `apiVersion: skybridge/v1
kind: Connector
name: crm
type: http
config:
  baseURL: "${env.CRM_URL}"
  token: "${secret.CRM_TOKEN}"
operations:
  getCustomer: {method: GET, path: "/customers/{id}", headers: {X-Static: "s-${env.REGION}"}}
  createOrder:
    method: POST
    path: /orders
    body: "${args}"
    headers: {X-Customer: "${args.customer}", X-Fixed: fixed}
---
apiVersion: skybridge/v1
kind: Flow
name: order
input: {id: string}
steps:
  - {id: c, call: crm.getCustomer, with: {id: "${input.id}"}}
  - {id: o, call: crm.createOrder, with: {customer: "${steps.c.id}", qty: 2}}
output: ${steps.o}
`

func TestConnectorOverHTTP(t *testing.T) {
	t.Parallel()
	const secret = "tok-3f9a1c-very-secret"
	var seen atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+secret || r.Header.Get("traceparent") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		switch {
		case r.Method == "GET" && r.URL.Path == "/customers/c1":
			if r.Header.Get("X-Static") != "s-eu" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"id": "c1"})
		case r.Method == "GET":
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":"no"}`))
		case r.Method == "POST" && r.URL.Path == "/orders":
			var body map[string]any
			_ = json.NewDecoder(r.Body).Decode(&body)
			seen.Store(r.Header.Get("X-Customer") + "/" + r.Header.Get("X-Fixed"))
			_ = json.NewEncoder(w).Encode(map[string]any{"ordered": body})
		}
	}))
	t.Cleanup(srv.Close)

	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	e := NewEngine(EngineConfig{
		Connectors: map[string]connectors.Type{"http": httpType()},
		Logger:     slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Registerer: reg,
	})
	b, err := e.Load(map[string]string{"bundle.yaml": httpBundle})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(b.EnvRefs(), ","); got != "CRM_URL,REGION" {
		t.Fatalf("EnvRefs = %s", got)
	}
	if got := strings.Join(b.SecretRefs(), ","); got != "CRM_TOKEN" {
		t.Fatalf("SecretRefs = %s", got)
	}
	_, err = e.Build(context.Background(), b, Environment{Vars: map[string]any{"CRM_URL": srv.URL}}, 1)
	if !errors.Is(err, ErrMissingReference) || !strings.Contains(err.Error(), "REGION") || !strings.Contains(err.Error(), "CRM_TOKEN") {
		t.Fatalf("Build without REGION and CRM_TOKEN: %v", err)
	}
	env := Environment{Vars: map[string]any{"CRM_URL": srv.URL, "REGION": "eu"}, Secrets: map[string]string{"CRM_TOKEN": secret}}
	p, err := e.Build(context.Background(), b, env, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })

	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	res, err := p.Run(context.Background(), "order", Call{Input: map[string]any{"id": "c1"}, User: testUser, Traceparent: tp})
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, res.Output, map[string]any{"ordered": map[string]any{"customer": "c1", "qty": 2}})
	if got, _ := seen.Load().(string); got != "c1/fixed" {
		t.Fatalf("dynamic and static headers = %q", got)
	}

	// The connector's message quotes the token; nothing the engine
	// returns or logs does.
	_, err = p.Run(context.Background(), "order", Call{Input: map[string]any{"id": "zz"}, User: testUser, Traceparent: tp, Trace: true})
	var fe *FlowError
	if !errors.As(err, &fe) || fe.Status != 502 {
		t.Fatalf("err = %v, want a 502", err)
	}
	for _, s := range []string{err.Error(), fe.Detail, fe.Title, logs.String()} {
		if strings.Contains(s, secret) {
			t.Fatalf("secret leaked: %s", s)
		}
	}
	if !strings.Contains(logs.String(), redactedText) {
		t.Fatalf("the logged connector failure was not redacted:\n%s", logs.String())
	}

	// Per-step metrics by flow, step and outcome.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]bool{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if mf.GetName() == "skybridge_flow_step_duration_seconds" && m.GetHistogram().GetSampleCount() > 0 {
				found[labels["flow"]+"/"+labels["step"]+"/"+labels["outcome"]] = true
			}
		}
	}
	for _, want := range []string{"order/c/ok", "order/o/ok", "order/c/error"} {
		if !found[want] {
			t.Fatalf("no step samples for %s in %v", want, found)
		}
	}
	// A second engine on the same registry shares the histograms.
	_ = NewEngine(EngineConfig{Registerer: reg})
}

func TestSecretsRedactedFromFlowErrors(t *testing.T) {
	t.Parallel()
	const secret = "s3cr3t-value-123"
	h := func(_ context.Context, spec connectors.Spec, req connectors.Request) (*connectors.Response, error) {
		token, _ := spec.Config["token"].(string)
		return nil, &connectors.Error{Connector: "crm", Operation: req.Operation, Kind: connectors.KindStatus, Status: 500, Message: "bad token " + token}
	}
	e := testEngine(t, h)
	doc := strings.Replace(connectorDoc, "region: eu", "region: eu\n  token: ${secret.TOKEN}", 1)
	b, err := e.Load(map[string]string{"c.yaml": doc, "f.yaml": `apiVersion: skybridge/v1
kind: Flow
name: main
steps:
  - {id: c, call: crm.getCustomer, fallback: {value: "${error.message}"}}
  - {id: d, call: crm.getCustomer, onError: continue}
  - {id: e, call: crm.getCustomer}
errors:
  - {when: {step: e}, status: 503, title: "failed: ${error.message}", detail: "${steps.c}"}
`})
	if err != nil {
		t.Fatal(err)
	}
	p, err := e.Build(context.Background(), b, Environment{Secrets: map[string]string{"TOKEN": secret}}, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, err = p.Run(context.Background(), "main", Call{User: testUser, Trace: true})
	var fe *FlowError
	if !errors.As(err, &fe) || fe.Status != 503 {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(fe.Title+fe.Detail+err.Error(), secret) || !strings.Contains(fe.Title, redactedText) || !strings.Contains(fe.Detail, redactedText) {
		t.Fatalf("title %q, detail %q: secret not redacted", fe.Title, fe.Detail)
	}

	// A connector type whose New quotes the secret in its error.
	bad := NewEngine(EngineConfig{Logger: slog.New(slog.DiscardHandler), Connectors: map[string]connectors.Type{"func": {
		Validate: func(connectors.Spec) []connectors.FieldError { return nil },
		New: func(spec connectors.Spec, _ connectors.Options) (connectors.Connector, error) {
			return nil, errors.New("cannot use token " + spec.Config["token"].(string))
		},
	}}})
	b, err = bad.Load(map[string]string{"c.yaml": doc})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bad.Build(context.Background(), b, Environment{Secrets: map[string]string{"TOKEN": secret}}, 1)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("Build error %v: want an error without the secret", err)
	}
}

func TestBundleDocuments(t *testing.T) {
	t.Parallel()
	e := testEngine(t, crmHandler)
	flow := "apiVersion: skybridge/v1\nkind: Flow\nname: f\nsteps: [{transform: \"${env.A}\"}]\n"
	b1, err := e.Load(map[string]string{"c.yaml": connectorDoc, "f.yaml": "# a comment\n" + flow + "---\n" + strings.Replace(flow, "name: f", "name: g", 1)})
	if err != nil {
		t.Fatal(err)
	}
	docs := b1.Documents()
	if len(docs) != 3 || docs[0].Kind != KindConnector || docs[0].Name != "crm" || docs[1].Name != "f" || docs[1].Line != 2 || docs[2].Line != 7 || docs[2].File != "f.yaml" {
		t.Fatalf("documents = %+v", docs)
	}
	reformatted := "apiVersion: skybridge/v1\nname: f\nkind: Flow\nsteps:\n  - transform: \"${env.A}\"\n"
	b2, err := e.Load(map[string]string{"other.yaml": reformatted})
	if err != nil {
		t.Fatal(err)
	}
	if b2.Documents()[0].Digest != docs[1].Digest || docs[1].Digest == docs[2].Digest {
		t.Fatalf("digests: same content %s vs %s; other %s", b2.Documents()[0].Digest, docs[1].Digest, docs[2].Digest)
	}
	if got := b1.EnvRefs(); len(got) != 1 || got[0] != "A" {
		t.Fatalf("EnvRefs = %v", got)
	}
}

func TestEngineConfigDefaults(t *testing.T) {
	t.Parallel()
	c := EngineConfig{}.withDefaults()
	if c.Logger == nil || c.FlowTimeout != DefaultFlowTimeout || c.MaxFlowTimeout != DefaultMaxFlowTimeout ||
		c.ForeachConcurrency != DefaultForeachConcurrency || c.MaxRetryAttempts != DefaultMaxRetryAttempts || c.MaxFlowDepth != DefaultMaxFlowDepth {
		t.Fatalf("defaults = %+v", c)
	}
	set := EngineConfig{FlowTimeout: 1, MaxFlowTimeout: 2, ForeachConcurrency: 3, MaxRetryAttempts: 4, MaxFlowDepth: 5}.withDefaults()
	if set.FlowTimeout != 1 || set.MaxFlowTimeout != 2 || set.ForeachConcurrency != 3 || set.MaxRetryAttempts != 4 || set.MaxFlowDepth != 5 {
		t.Fatalf("explicit values changed: %+v", set)
	}
}
