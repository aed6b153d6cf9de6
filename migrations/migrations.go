// Package migrations runs ordered, idempotent changes to a store database:
// system collections and their indexes. Each database keeps the record of
// what ran in its own "migrations" collection, so the record lives with the
// data on whichever store adapter holds it.
package migrations

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/skybridgehq/skybridge/audit"
	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/orchestration/deploy"
	"github.com/skybridgehq/skybridge/orchestration/trigger"
	"github.com/skybridgehq/skybridge/store"
)

// Collection is where each database records the migrations that ran.
const Collection = "migrations"

// Migration is one step. Up must be idempotent: two nodes starting at once
// may both run it before either records it.
type Migration struct {
	// ID orders migrations: they run in ascending ID order, e.g.
	// "0001-system-indexes". IDs never change once released.
	ID string
	// Description says what the step does, for logs and `skybridge migrate`.
	Description string
	// Up applies the step.
	Up func(ctx context.Context, db store.DB) error
}

// Record is what a database keeps of a migration that ran.
type Record struct {
	ID        string
	AppliedAt string
}

// System returns the migrations of the system database, in order.
func System() []Migration {
	return []Migration{
		{
			ID:          "0001-auth-indexes",
			Description: "indexes of admins, apps and environment keys",
			Up: func(ctx context.Context, db store.DB) error {
				return store.EnsureIndexes(ctx, db, authIndexes())
			},
		},
		{
			ID:          "0002-audit-indexes",
			Description: "indexes of the audit trail and its checkpoints",
			Up: func(ctx context.Context, db store.DB) error {
				return store.EnsureIndexes(ctx, db, audit.Indexes())
			},
		},
		{
			// Indexes already there are no-ops: this adds what auth
			// declared since 0001 (deploy tokens, OpenID providers).
			ID:          "0003-auth-indexes",
			Description: "indexes of deploy tokens and OpenID providers",
			Up: func(ctx context.Context, db store.DB) error {
				return store.EnsureIndexes(ctx, db, authIndexes())
			},
		},
		{
			// The trail moved from one document per record to one segment
			// per batch and chain; records written before become
			// one-record segments with the same _id, so they still verify.
			ID:          "0004-audit-segments",
			Description: "audit trail stored in segments: new indexes, older records converted",
			Up: func(ctx context.Context, db store.DB) error {
				if err := store.EnsureIndexes(ctx, db, audit.Indexes()); err != nil {
					return err
				}
				_, err := audit.ConvertRecords(ctx, db)
				return err
			},
		},
		{
			ID:          "0005-flow-deployments",
			Description: "unique version index of flow deployments",
			Up: func(ctx context.Context, db store.DB) error {
				return store.EnsureIndexes(ctx, db, deploy.Indexes())
			},
		},
		{
			ID:          "0006-trigger-firings",
			Description: "indexes of trigger firings (by state and due time, by state and lease) and claims",
			Up: func(ctx context.Context, db store.DB) error {
				return store.EnsureIndexes(ctx, db, trigger.Indexes())
			},
		},
	}
}

// Run applies, in order, the migrations in ms that db has not recorded, and
// records each one after it succeeds. It stops at the first failure and
// returns an error naming the migration. It returns the IDs it applied.
func Run(ctx context.Context, db store.DB, ms []Migration, log *slog.Logger) ([]string, error) {
	if err := checkOrder(ms); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rec := db.Collection(Collection)
	var applied []string
	for _, m := range ms {
		_, err := rec.Get(ctx, m.ID)
		if err == nil {
			continue
		}
		if !errors.Is(err, store.ErrNotFound) {
			return applied, fmt.Errorf("migration %s: read record: %w", m.ID, err)
		}
		start := time.Now()
		if err := m.Up(ctx, db); err != nil {
			return applied, fmt.Errorf("migration %s (%s) on database %q failed: %w", m.ID, m.Description, db.Name(), err)
		}
		_, err = rec.Insert(ctx, store.Doc{store.FieldID: m.ID, "description": m.Description, "appliedAt": store.FormatTime(time.Now())})
		if err != nil && !errors.Is(err, store.ErrDuplicate) { // another node recorded it first
			return applied, fmt.Errorf("migration %s: record: %w", m.ID, err)
		}
		log.Info("migration applied", "db", db.Name(), "id", m.ID, "description", m.Description, "took", time.Since(start))
		applied = append(applied, m.ID)
	}
	return applied, nil
}

// Applied lists the migrations db has recorded, in ID order.
func Applied(ctx context.Context, db store.DB) ([]Record, error) {
	var out []Record
	q := store.Query{Sort: []store.SortKey{{Path: store.FieldID}}, Limit: store.MaxLimit}
	for {
		page, err := db.Collection(Collection).Find(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, d := range page.Docs {
			at, _ := d["appliedAt"].(string)
			out = append(out, Record{ID: store.DocID(d), AppliedAt: at})
		}
		if page.Cursor == "" {
			return out, nil
		}
		q.Cursor = page.Cursor
	}
}

func checkOrder(ms []Migration) error {
	for i, m := range ms {
		if m.ID == "" || m.Up == nil {
			return fmt.Errorf("migrations: entry %d has no ID or no Up", i)
		}
		if i > 0 && ms[i-1].ID >= m.ID {
			return fmt.Errorf("migrations: %q does not sort after %q", m.ID, ms[i-1].ID)
		}
	}
	return nil
}

// authIndexes is the auth package's declaration of its system indexes.
func authIndexes() map[string][]store.Index { return auth.SystemIndexes() }
