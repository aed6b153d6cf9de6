package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// MaxPullCollections bounds the collections of one pull.
const MaxPullCollections = 20

// PullRequest is the body of POST /v1/sync/pull.
type PullRequest struct {
	// Collections maps a collection to what to pull of it.
	Collections map[string]PullSpec `json:"collections"`
}

// PullSpec is what to pull of one collection.
type PullSpec struct {
	// Checkpoint is the opaque checkpoint of the previous pull of the
	// same collection (and filter or scope); absent on the first pull.
	Checkpoint string `json:"checkpoint,omitempty"`
	// Limit bounds the documents. Default: DefaultPullLimit; at most
	// MaxPullLimit.
	Limit int `json:"limit,omitempty"`
	// Filter restricts the documents, in the filter language of object
	// lists. Tombstones always come through: a client cannot tell which
	// of its documents once matched.
	Filter json.RawMessage `json:"filter,omitempty"`
	// Scope names a prefetch scope of the collection instead of Filter.
	Scope string `json:"scope,omitempty"`
}

// PullResult is the answer of a pull.
type PullResult struct {
	// Collections maps each pulled collection to its batch.
	Collections map[string]PullBatch `json:"collections"`
}

// PullBatch is one collection's part of a pull.
type PullBatch struct {
	// Documents are the changed objects in _seq order, tombstones
	// (_deleted true) included.
	Documents []objectstore.Object `json:"documents"`
	// Checkpoint is where the next pull continues.
	Checkpoint string `json:"checkpoint"`
	// HasMore says the feed has changes past Checkpoint.
	HasMore bool `json:"hasMore"`
}

// Pull reads, for each collection of req, the changes after its
// checkpoint that p may read. A checkpoint older than the compacted
// tombstones is ErrCheckpointExpired; a malformed request is ErrInvalid
// naming the field, before anything is read.
func (s *Service) Pull(ctx context.Context, env objectstore.Env, p objectstore.Principal, req PullRequest) (PullResult, error) {
	if len(req.Collections) == 0 {
		return PullResult{}, invalid("collections", "name at least one collection")
	}
	if len(req.Collections) > MaxPullCollections {
		return PullResult{}, invalid("collections", fmt.Sprintf("at most %d collections per pull", MaxPullCollections))
	}
	type plan struct {
		col    string
		after  int64
		limit  int
		filter store.Filter
	}
	cols := make([]string, 0, len(req.Collections))
	for col := range req.Collections {
		cols = append(cols, col)
	}
	sort.Strings(cols)
	plans := make([]plan, 0, len(cols))
	for _, col := range cols {
		spec := req.Collections[col]
		field := "collections." + col
		if err := objectstore.ValidCollectionName(col); err != nil {
			return PullResult{}, &objectstore.FieldError{Field: field, Err: err}
		}
		pl := plan{col: col, limit: spec.Limit}
		var err error
		if pl.after, err = decodeCheckpoint(field+".checkpoint", spec.Checkpoint); err != nil {
			return PullResult{}, err
		}
		switch {
		case spec.Limit < 0 || spec.Limit > MaxPullLimit:
			return PullResult{}, invalid(field+".limit", fmt.Sprintf("from 1 to %d", MaxPullLimit))
		case spec.Limit == 0:
			pl.limit = DefaultPullLimit
		}
		hasFilter := len(spec.Filter) > 0 && string(spec.Filter) != "null"
		switch {
		case hasFilter && spec.Scope != "":
			return PullResult{}, invalid(field+".scope", "send a filter or a scope, not both")
		case hasFilter:
			if pl.filter, err = store.ParseFilter(spec.Filter); err != nil {
				return PullResult{}, &objectstore.FieldError{Field: field + ".filter", Err: err}
			}
		case spec.Scope != "":
			if pl.filter, err = s.scopeFilter(ctx, env, p, col, spec.Scope); err != nil {
				return PullResult{}, &objectstore.FieldError{Field: field + ".scope", Err: err}
			}
		}
		plans = append(plans, pl)
	}
	out := PullResult{Collections: make(map[string]PullBatch, len(plans))}
	for _, pl := range plans {
		b, err := s.pullOne(ctx, env, p, pl.col, pl.after, pl.limit, pl.filter)
		if err != nil {
			return PullResult{}, fmt.Errorf("pull %s: %w", pl.col, err)
		}
		out.Collections[pl.col] = b
	}
	return out, nil
}

func (s *Service) pullOne(ctx context.Context, env objectstore.Env, p objectstore.Principal, col string, after int64, limit int, f store.Filter) (PullBatch, error) {
	if after > 0 {
		through, err := s.objects.CompactedThrough(ctx, env, col)
		if err != nil {
			return PullBatch{}, err
		}
		if after < through {
			return PullBatch{}, fmt.Errorf("%w: collection %s was compacted past the checkpoint", ErrCheckpointExpired, col)
		}
	}
	batch, err := s.objects.Changes(ctx, env, p, col, after, limit)
	if err != nil {
		return PullBatch{}, err
	}
	docs := batch.Objects
	if f != nil {
		if docs, err = s.keepMatching(ctx, env, p, col, docs, f); err != nil {
			return PullBatch{}, err
		}
	}
	last, err := s.objects.LastSeq(ctx, env, col)
	if err != nil {
		return PullBatch{}, err
	}
	return PullBatch{Documents: docs, Checkpoint: encodeCheckpoint(batch.Last), HasMore: batch.Last < last}, nil
}

// keepMatching keeps the tombstones of docs and the live objects that f
// selects, asking the store (the same filter engine as object lists).
func (s *Service) keepMatching(ctx context.Context, env objectstore.Env, p objectstore.Principal, col string, docs []objectstore.Object, f store.Filter) ([]objectstore.Object, error) {
	var ids []any
	for _, d := range docs {
		if !d.Deleted() {
			ids = append(ids, d.ID())
		}
	}
	match := map[string]bool{}
	if len(ids) > 0 {
		q := objectstore.ListQuery{
			Filter: store.And{Filters: []store.Filter{f, store.In{Path: store.FieldID, Values: ids}}},
			Limit:  len(ids), Fields: []string{store.FieldID},
		}
		for {
			page, err := s.objects.List(ctx, env, p, col, q)
			if err != nil {
				return nil, err
			}
			for _, o := range page.Items {
				match[o.ID()] = true
			}
			if page.Cursor == "" {
				break
			}
			q.Cursor = page.Cursor
		}
	}
	out := docs[:0:0]
	for _, d := range docs {
		if d.Deleted() || match[d.ID()] {
			out = append(out, d)
		}
	}
	return out, nil
}
