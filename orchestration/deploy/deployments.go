package deploy

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/skybridgehq/skybridge/store"
)

// Deploy stores a bundle (files: path → YAML text) as the next version of
// an app environment and makes it live. The bundle is checked
// (*InputError), inspected (*ValidationError), checked against the
// environment's variables and secrets (*MissingError) and built
// (*BuildError) before anything is written; on any of these failures
// nothing goes live. actor is who deploys, for the history.
func (s *Service) Deploy(ctx context.Context, appID, env string, files map[string]string, actor string) (Deployment, error) {
	return s.publish(ctx, appID, env, files, SourceDeploy, nil, actor)
}

// Promote copies the files of version of environment from, unchanged, to
// environment to as its next version, checked and built against to's
// variables and secrets as Deploy does. ErrNotFound when from has no such
// version.
func (s *Service) Promote(ctx context.Context, appID, from string, version int, to, actor string) (Deployment, error) {
	src, err := s.getRecord(ctx, appID, from, version)
	if err != nil {
		return Deployment{}, err
	}
	return s.publish(ctx, appID, to, src.files, SourcePromote, &Origin{Env: from, Version: version}, actor)
}

// Rollback makes the version live before the current one live again, as a
// new version with its files (source SourceRollback), so that the history
// records it. A second rollback therefore returns to the version the first
// one replaced. ErrNoDeployment when nothing is live, ErrNoPrevious when
// the live version had no predecessor.
func (s *Service) Rollback(ctx context.Context, appID, env, actor string) (Deployment, error) {
	live, err := s.lastVersion(ctx, appID, env)
	if err != nil {
		return Deployment{}, err
	}
	if live == 0 {
		return Deployment{}, fmt.Errorf("%w: environment %q of app %q", ErrNoDeployment, env, appID)
	}
	cur, err := s.getRecord(ctx, appID, env, live)
	if err != nil {
		return Deployment{}, err
	}
	if cur.d.PreviousLive == 0 {
		return Deployment{}, fmt.Errorf("%w: version %d was the first in environment %q", ErrNoPrevious, live, env)
	}
	prev, err := s.getRecord(ctx, appID, env, cur.d.PreviousLive)
	if err != nil {
		return Deployment{}, err
	}
	return s.publish(ctx, appID, env, prev.files, SourceRollback, &Origin{Env: env, Version: prev.d.Version}, actor)
}

// publish stores files as a new version, which makes it live: the live
// version of an environment is its highest. The number is the highest
// plus one; two nodes taking the same number collide on the record's _id
// (and unique index), and the loser builds again for the next. Storing the
// record is the swap in the store, so the plan is built before, for the
// number and configuration it goes live with; then this node swaps it in
// at once, and the others within their refresh interval.
func (s *Service) publish(ctx context.Context, appID, env string, files map[string]string, source string, origin *Origin, actor string) (Deployment, error) {
	if err := s.checkBundle(files); err != nil {
		return Deployment{}, err
	}
	in, err := s.builder.Inspect(files)
	if err != nil {
		if ve := (*ValidationError)(nil); errors.As(err, &ve) {
			return Deployment{}, ve
		}
		return Deployment{}, fmt.Errorf("inspect bundle: %w", err)
	}
	var (
		plan    Plan
		planVer int
		planRev int64
	)
	defer func() {
		if plan != nil {
			if err := plan.Close(); err != nil {
				s.log.WarnContext(ctx, "close an unused plan", "app", appID, "env", env, "err", err)
			}
		}
	}()
	for attempt := 0; attempt < maxAttempts; attempt++ {
		st, err := s.loadEnv(ctx, appID, env)
		if err != nil {
			return Deployment{}, err
		}
		last, err := s.lastVersion(ctx, appID, env)
		if err != nil {
			return Deployment{}, err
		}
		version := last + 1
		if plan == nil || planVer != version || planRev != st.configRev {
			if plan != nil {
				_ = plan.Close()
				plan = nil
			}
			benv, err := s.buildEnv(st)
			if err != nil {
				return Deployment{}, err
			}
			if err := missingRefs(appID, env, 0, in, benv.Vars, benv.Secrets); err != nil {
				return Deployment{}, err
			}
			p, err := s.builder.Build(ctx, files, benv, version)
			if err != nil {
				return Deployment{}, buildError(benv, version, err)
			}
			plan, planVer, planRev = p, version, st.configRev
		}
		rec, err := s.newRecord(ctx, appID, env, version, last, files, in, source, origin, actor)
		if errors.Is(err, store.ErrDuplicate) {
			continue // another node took this number
		}
		if err != nil {
			return Deployment{}, err
		}
		s.installFor(appID, env, plan, version, st.configRev)
		plan = nil
		rec.d.Live = true
		return rec.d, nil
	}
	return Deployment{}, fmt.Errorf("%w: deploy to %s/%s", ErrConflict, appID, env)
}

// newRecord inserts the record of a new version, its changes summarised
// against the version live in st.
func (s *Service) newRecord(ctx context.Context, appID, env string, version, previous int, files map[string]string, in *Inspection, source string, origin *Origin, actor string) (*record, error) {
	r := &record{appID: appID, env: env, files: files, d: Deployment{
		Version: version, Actor: actor, CreatedAt: s.now(), Source: source, Origin: origin,
		PreviousLive: previous, Documents: sortedDocuments(in.Documents),
	}}
	if err := s.summarise(ctx, r); err != nil {
		return nil, err
	}
	out, err := s.sys.Collection(collDeployments).Insert(ctx, r.doc())
	if err != nil {
		return nil, fmt.Errorf("store version %d of %s/%s: %w", version, appID, env, err)
	}
	r.docVersion = store.DocVersion(out)
	return r, nil
}

// summarise fills r's changes against its PreviousLive.
func (s *Service) summarise(ctx context.Context, r *record) error {
	var before []Document
	if r.d.PreviousLive > 0 {
		prev, err := s.getRecord(ctx, r.appID, r.env, r.d.PreviousLive)
		if err != nil {
			return err
		}
		before = prev.d.Documents
	}
	r.d.Changes = changesBetween(before, r.d.Documents)
	return nil
}

// changesBetween compares two versions' documents by Kind and Name.
func changesBetween(before, after []Document) Changes {
	type key struct{ kind, name string }
	old := make(map[key]string, len(before))
	for _, d := range before {
		old[key{d.Kind, d.Name}] = d.Digest
	}
	ch := Changes{Added: []DocumentRef{}, Removed: []DocumentRef{}, Changed: []DocumentRef{}}
	seen := make(map[key]bool, len(after))
	for _, d := range after {
		k := key{d.Kind, d.Name}
		seen[k] = true
		digest, ok := old[k]
		switch {
		case !ok:
			ch.Added = append(ch.Added, DocumentRef{d.Kind, d.Name})
		case digest != d.Digest:
			ch.Changed = append(ch.Changed, DocumentRef{d.Kind, d.Name})
		}
	}
	for _, d := range before {
		if !seen[key{d.Kind, d.Name}] {
			ch.Removed = append(ch.Removed, DocumentRef{d.Kind, d.Name})
		}
	}
	for _, l := range [][]DocumentRef{ch.Added, ch.Removed, ch.Changed} {
		sort.Slice(l, func(i, j int) bool {
			if l[i].Kind != l[j].Kind {
				return l[i].Kind < l[j].Kind
			}
			return l[i].Name < l[j].Name
		})
	}
	return ch
}

func sortedDocuments(docs []Document) []Document {
	out := append([]Document(nil), docs...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Name < out[j].Name
	})
	return out
}
