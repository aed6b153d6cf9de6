package mongo

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/skybridgehq/skybridge/store"
)

// Find returns one page of the documents matching q; see store.Collection.
// Pages continue by keyset (store.KeysetFilter), so a page costs one
// indexed range query however deep it is.
func (c *Collection) Find(ctx context.Context, q store.Query) (store.Page, error) {
	if err := c.check(); err != nil {
		return store.Page{}, err
	}
	if err := store.ValidateFilter(q.Filter); err != nil {
		return store.Page{}, err
	}
	if err := store.ValidateSort(q.Sort); err != nil {
		return store.Page{}, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	limit = min(limit, store.MaxLimit)
	after, err := store.KeysetFilter(q.Sort, q.Cursor)
	if err != nil {
		return store.Page{}, err
	}
	f := q.Filter
	if after != nil {
		if f == nil {
			f = after
		} else {
			f = store.And{Filters: []store.Filter{f, after}}
		}
	}
	filter, err := compileFilter(f)
	if err != nil {
		return store.Page{}, err
	}
	ctx, cancel := c.db.p.opContext(ctx)
	defer cancel()
	cur, err := c.mc.Find(ctx, filter, options.Find().SetSort(sortSpec(q.Sort)).SetLimit(int64(limit)+1))
	if err != nil {
		return store.Page{}, c.db.p.wrap(fmt.Sprintf("find in %q", c.name), err)
	}
	docs, err := c.readAll(ctx, cur)
	if err != nil {
		return store.Page{}, err
	}
	page := store.Page{Docs: docs}
	if len(docs) > limit {
		page.Docs = docs[:limit]
		page.Cursor = store.MakeCursor(q.Sort, page.Docs[limit-1])
	}
	return page, nil
}

// sortSpec is the MongoDB sort for keys, with _id ascending last so the
// order is total.
func sortSpec(keys []store.SortKey) bson.D {
	out := make(bson.D, 0, len(keys)+1)
	hasID := false
	for _, k := range keys {
		dir := 1
		if k.Desc {
			dir = -1
		}
		out = append(out, bson.E{Key: k.Path, Value: dir})
		hasID = hasID || k.Path == store.FieldID
	}
	if !hasID {
		out = append(out, bson.E{Key: store.FieldID, Value: 1})
	}
	return out
}

// Count returns how many documents match f.
func (c *Collection) Count(ctx context.Context, f store.Filter) (int64, error) {
	if err := c.check(); err != nil {
		return 0, err
	}
	if err := store.ValidateFilter(f); err != nil {
		return 0, err
	}
	filter, err := compileFilter(f)
	if err != nil {
		return 0, err
	}
	ctx, cancel := c.db.p.opContext(ctx)
	defer cancel()
	n, err := c.mc.CountDocuments(ctx, filter)
	if err != nil {
		return 0, c.db.p.wrap(fmt.Sprintf("count in %q", c.name), err)
	}
	return n, nil
}
