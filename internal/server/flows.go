package server

import (
	"context"
	"errors"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/skybridgehq/skybridge/cache"
	"github.com/skybridgehq/skybridge/connectors"
	"github.com/skybridgehq/skybridge/connectors/rest"
	"github.com/skybridgehq/skybridge/connectors/soap"
	sqlconn "github.com/skybridgehq/skybridge/connectors/sql"
	"github.com/skybridgehq/skybridge/orchestration"
	"github.com/skybridgehq/skybridge/orchestration/deploy"
	"github.com/skybridgehq/skybridge/push"
)

// ConnectorTypes are the connector types flows may use.
func ConnectorTypes() map[string]connectors.Type {
	return map[string]connectors.Type{"rest": rest.Type, "soap": soap.Type, "sql": sqlconn.Type}
}

// NewFlowEngine returns the orchestration engine of a node (and of
// `skybridge flows validate`) with every connector type.
func NewFlowEngine(log *slog.Logger, reg prometheus.Registerer) *orchestration.Engine {
	return orchestration.NewEngine(orchestration.EngineConfig{Connectors: ConnectorTypes(), Logger: log, Registerer: reg})
}

// flowBuilder is the deployments' view of the orchestration engine: it
// validates bundles and builds them per environment, with the node's
// cache for flows that declare one.
type flowBuilder struct {
	engine *orchestration.Engine
	loader *cache.Loader
	// push runs the flows' push steps; nil leaves them unavailable.
	push *push.Service
}

var _ deploy.Builder = (*flowBuilder)(nil)

// Inspect validates files without an environment.
func (b *flowBuilder) Inspect(files map[string]string) (*deploy.Inspection, error) {
	bundle, err := b.engine.Load(files)
	if err != nil {
		return nil, deployValidation(err)
	}
	in := &deploy.Inspection{EnvRefs: bundle.EnvRefs(), SecretRefs: bundle.SecretRefs()}
	for _, d := range bundle.Documents() {
		in.Documents = append(in.Documents, deploy.Document{Kind: d.Kind, Name: d.Name, File: d.File, Digest: d.Digest})
	}
	return in, nil
}

// Build compiles files for env.
func (b *flowBuilder) Build(ctx context.Context, files map[string]string, env deploy.Env, version int) (deploy.Plan, error) {
	bundle, err := b.engine.Load(files)
	if err != nil {
		return nil, deployValidation(err)
	}
	oenv := orchestration.Environment{Vars: env.Vars, Secrets: env.Secrets}
	if b.loader != nil {
		oenv.Cache, oenv.Namespace = b.loader, cache.NewNamespace(env.AppID, env.Name)
	}
	if b.push != nil {
		oenv.Push = flowPusher{svc: b.push, env: push.Env{AppID: env.AppID, Name: env.Name}}
	}
	return b.engine.Build(ctx, bundle, oenv, version)
}

// deployValidation turns the engine's validation errors into the
// deployments' (same fields); other errors pass unchanged.
func deployValidation(err error) error {
	var ve *orchestration.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	out := &deploy.ValidationError{Errors: make([]deploy.FileError, len(ve.Errors))}
	for i, e := range ve.Errors {
		out.Errors[i] = deploy.FileError{File: e.File, Line: e.Line, Column: e.Column, Field: e.Field, Message: e.Message}
	}
	return out
}
