package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Deployment is one version of an app environment's bundle, as its
// history shows it (without the files).
type Deployment struct {
	// Version numbers the environment's deployments from 1.
	Version int
	// Actor is who made it: an admin's email, or "deploy-token:<id>".
	Actor     string
	CreatedAt time.Time
	// Source is SourceDeploy, SourcePromote or SourceRollback.
	Source string
	// Origin is, for a promote, the environment and version the files came
	// from; for a rollback, this environment and the version restored.
	Origin *Origin
	// Live reports whether this version is the environment's live one:
	// its highest.
	Live bool
	// PreviousLive is the version that was live when this one went live
	// (0: none), the one before it; a rollback restores it.
	PreviousLive int
	// Changes compares the documents with those of PreviousLive.
	Changes Changes
	// Documents are the bundle's documents, as the Builder inspected them.
	Documents []Document
}

// Origin is where a promoted or rolled back version's files came from.
type Origin struct {
	Env     string
	Version int
}

// DocumentRef names a document across versions.
type DocumentRef struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// Changes is a version's change summary against the version live before:
// documents (by Kind and Name) added, removed, and changed (another
// Digest), each sorted.
type Changes struct {
	Added, Removed, Changed []DocumentRef
}

// recordID is the _id of a deployment: the store refuses a second
// document with the same app, environment and version.
func recordID(appID, env string, version int) string {
	return fmt.Sprintf("%s/%s/%d", appID, env, version)
}

// record is a deployment document of collDeployments.
type record struct {
	appID, env string
	d          Deployment
	files      map[string]string
	docVersion int64
}

func (r *record) doc() store.Doc {
	d := store.Doc{
		store.FieldID:  recordID(r.appID, r.env, r.d.Version),
		"appId":        r.appID,
		"env":          r.env,
		"version":      int64(r.d.Version),
		"actor":        r.d.Actor,
		"createdAt":    store.FormatTime(r.d.CreatedAt),
		"source":       r.d.Source,
		"previousLive": int64(r.d.PreviousLive),
		"changes": map[string]any{
			"added": refsToDoc(r.d.Changes.Added), "removed": refsToDoc(r.d.Changes.Removed), "changed": refsToDoc(r.d.Changes.Changed),
		},
		"documents": documentsToDoc(r.d.Documents),
		"files":     filesToDoc(r.files),
	}
	if o := r.d.Origin; o != nil {
		d["originEnv"], d["originVersion"] = o.Env, int64(o.Version)
	}
	return d
}

func recordFromDoc(d store.Doc, withFiles bool) (*record, error) {
	r := &record{appID: str(d, "appId"), env: str(d, "env"), docVersion: store.DocVersion(d)}
	v, _ := store.Int64(d["version"])
	prev, _ := store.Int64(d["previousLive"])
	created, err := time.Parse(store.TimeFormat, str(d, "createdAt"))
	if err != nil {
		return nil, fmt.Errorf("deployment %q: createdAt: %w", store.DocID(d), err)
	}
	r.d = Deployment{Version: int(v), Actor: str(d, "actor"), CreatedAt: created, Source: str(d, "source"), PreviousLive: int(prev)}
	if env := str(d, "originEnv"); env != "" {
		ov, _ := store.Int64(d["originVersion"])
		r.d.Origin = &Origin{Env: env, Version: int(ov)}
	}
	ch, _ := d["changes"].(map[string]any)
	r.d.Changes = Changes{Added: refsFromDoc(ch["added"]), Removed: refsFromDoc(ch["removed"]), Changed: refsFromDoc(ch["changed"])}
	list, _ := d["documents"].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		r.d.Documents = append(r.d.Documents, Document{Kind: str(m, "kind"), Name: str(m, "name"), File: str(m, "file"), Digest: str(m, "digest")})
	}
	if withFiles {
		if r.files, err = filesFromDoc(d["files"]); err != nil {
			return nil, fmt.Errorf("deployment %q: %w", store.DocID(d), err)
		}
	}
	return r, nil
}

func refsToDoc(refs []DocumentRef) []any {
	out := make([]any, 0, len(refs))
	for _, r := range refs {
		out = append(out, map[string]any{"kind": r.Kind, "name": r.Name})
	}
	return out
}

func refsFromDoc(v any) []DocumentRef {
	list, _ := v.([]any)
	out := make([]DocumentRef, 0, len(list))
	for _, e := range list {
		m, _ := e.(map[string]any)
		out = append(out, DocumentRef{Kind: str(m, "kind"), Name: str(m, "name")})
	}
	return out
}

func documentsToDoc(docs []Document) []any {
	out := make([]any, 0, len(docs))
	for _, d := range docs {
		out = append(out, map[string]any{"kind": d.Kind, "name": d.Name, "file": d.File, "digest": d.Digest})
	}
	return out
}

// getRecord reads one version of an environment, with its files;
// ErrNotFound when there is none.
func (s *Service) getRecord(ctx context.Context, appID, env string, version int) (*record, error) {
	if version < 1 {
		return nil, fmt.Errorf("%w: version %d of environment %q", ErrNotFound, version, env)
	}
	d, err := s.sys.Collection(collDeployments).Get(ctx, recordID(appID, env, version))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: version %d of environment %q", ErrNotFound, version, env)
	}
	if err != nil {
		return nil, fmt.Errorf("read deployment %d of %s/%s: %w", version, appID, env, err)
	}
	return recordFromDoc(d, true)
}

// envFilter selects the deployments of one environment.
func envFilter(appID, env string) store.Filter {
	return store.And{Filters: []store.Filter{
		store.Compare{Path: "appId", Op: store.OpEq, Value: appID},
		store.Compare{Path: "env", Op: store.OpEq, Value: env},
	}}
}

// lastVersion is the highest version of an environment, which is its live
// one; 0 when none.
func (s *Service) lastVersion(ctx context.Context, appID, env string) (int, error) {
	page, err := s.sys.Collection(collDeployments).Find(ctx, store.Query{
		Filter: envFilter(appID, env), Sort: []store.SortKey{{Path: "version", Desc: true}}, Limit: 1,
	})
	if err != nil {
		return 0, fmt.Errorf("find the last version of %s/%s: %w", appID, env, err)
	}
	if len(page.Docs) == 0 {
		return 0, nil
	}
	v, _ := store.Int64(page.Docs[0]["version"])
	return int(v), nil
}

// HistoryPage is one page of an environment's deployments, newest first.
type HistoryPage struct {
	Items []Deployment
	// Cursor continues with older versions; "" on the last page.
	Cursor string
}

// History lists the deployments of an environment, newest first, limit a
// page (0: store.DefaultLimit), continuing from cursor ("" for the first
// page). A malformed cursor matches store.ErrInvalid.
func (s *Service) History(ctx context.Context, appID, env string, limit int, cursor string) (HistoryPage, error) {
	live, err := s.lastVersion(ctx, appID, env)
	if err != nil {
		return HistoryPage{}, err
	}
	page, err := s.sys.Collection(collDeployments).Find(ctx, store.Query{
		Filter: envFilter(appID, env), Sort: []store.SortKey{{Path: "version", Desc: true}}, Limit: limit, Cursor: cursor,
	})
	if err != nil {
		return HistoryPage{}, fmt.Errorf("list deployments of %s/%s: %w", appID, env, err)
	}
	out := HistoryPage{Items: make([]Deployment, 0, len(page.Docs)), Cursor: page.Cursor}
	for _, d := range page.Docs {
		r, err := recordFromDoc(d, false)
		if err != nil {
			return HistoryPage{}, err
		}
		r.d.Live = r.d.Version == live
		out.Items = append(out.Items, r.d)
	}
	return out, nil
}
