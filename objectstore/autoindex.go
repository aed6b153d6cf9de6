package objectstore

import (
	"context"
	"strings"
	"sync"

	"github.com/skybridgehq/skybridge/store"
)

// MaxAutoIndexes bounds the indexes List creates on its own in one
// collection; past it, further sort orders run unindexed.
const MaxAutoIndexes = 8

// autoIndexPrefix names the indexes List creates, apart from declared
// ones.
const autoIndexPrefix = "auto_"

// autoIndexes remembers, per node, the sort orders already served by an
// index, so that List looks at the store's index list once per order.
// Its zero value is ready.
type autoIndexes struct {
	done sync.Map // db name + "\x00" + collection + "\x00" + fields → struct{}
	mu   sync.Mutex
}

// ensureSortIndex makes sure a query sorted by keys can walk an index
// instead of reading and sorting the whole collection, as Firestore
// indexes single fields without being asked: the first List with a sort
// order that no declared index leads with creates one (on the sort
// fields, in their order and directions: pages end on _id ascending, so
// an index walked backwards would not give that order), up to
// MaxAutoIndexes per collection. Building it holds the
// store's writer for the time an index build takes. Failures are logged:
// the query still runs, unindexed.
func (s *Service) ensureSortIndex(ctx context.Context, db store.DB, col string, keys []store.SortKey) {
	if len(keys) == 0 {
		return
	}
	fields := make([]string, len(keys))
	for i, k := range keys {
		fields[i] = k.Path
		if k.Desc {
			fields[i] = "-" + k.Path
		}
	}
	key := db.Name() + "\x00" + col + "\x00" + strings.Join(fields, ",")
	if _, ok := s.autoIdx.done.Load(key); ok {
		return
	}
	s.autoIdx.mu.Lock()
	defer s.autoIdx.mu.Unlock()
	if _, ok := s.autoIdx.done.Load(key); ok {
		return
	}
	c := objects(db, col)
	have, err := c.Indexes(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "list indexes", "db", db.Name(), "collection", col, "err", err)
		return
	}
	auto := 0
	for _, idx := range have {
		if leads(idx.Fields, fields) {
			s.autoIdx.done.Store(key, struct{}{})
			return
		}
		if strings.HasPrefix(idx.Name, autoIndexPrefix) {
			auto++
		}
	}
	if auto >= MaxAutoIndexes {
		s.autoIdx.done.Store(key, struct{}{}) // do not look again on every query
		return
	}
	idx := store.Index{Fields: fields}
	idx.Name = autoIndexPrefix + idx.IndexName()
	if err := c.EnsureIndex(ctx, idx); err != nil {
		s.log.WarnContext(ctx, "create sort index", "db", db.Name(), "collection", col, "fields", fields, "err", err)
		return
	}
	s.log.InfoContext(ctx, "created a sort index", "db", db.Name(), "collection", col, "fields", fields)
	s.autoIdx.done.Store(key, struct{}{})
}

// leads reports whether an index on have serves a sort on want: want is a
// prefix of have, field by field, with the same directions. (Walked
// backwards, an index would end its ties on _id descending, and pages
// end on _id ascending.)
func leads(have, want []string) bool {
	if len(have) < len(want) {
		return false
	}
	for i, w := range want {
		if have[i] != w {
			return false
		}
	}
	return true
}
