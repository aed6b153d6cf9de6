package mongo

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/skybridgehq/skybridge/store"
)

// EnsureIndex creates idx under the name idx.IndexName() when missing.
//
// A unique index is created sparse: MongoDB then leaves out documents that
// lack every indexed field, which is the contract's exemption. (A
// partialFilterExpression cannot say "has at least one of the fields"
// before MongoDB 6, and FerretDB refuses the option altogether, while both
// accept sparse.) A document with an explicit null in the field is
// indexed, so two such documents collide.
//
// FerretDB ignores sparse; its SQLite unique index leaves out any document
// lacking any of the fields (SQLite's NULLs are distinct), so on FerretDB
// two documents {a: 1} do not collide under a unique index on (a, b),
// while on MongoDB they do.
func (c *Collection) EnsureIndex(ctx context.Context, idx store.Index) error {
	if err := c.check(); err != nil {
		return err
	}
	if err := idx.Validate(); err != nil {
		return err
	}
	name := idx.IndexName()
	if strings.HasPrefix(name, internalPrefix) {
		return fmt.Errorf("%w: index name %q is reserved", store.ErrInvalid, name)
	}
	keys := make(bson.D, 0, len(idx.Fields))
	for _, f := range idx.Fields {
		if p, desc := strings.CutPrefix(f, "-"); desc {
			keys = append(keys, bson.E{Key: p, Value: -1})
		} else {
			keys = append(keys, bson.E{Key: f, Value: 1})
		}
	}
	opts := options.Index().SetName(name)
	if idx.Unique {
		opts.SetUnique(true).SetSparse(true)
	}
	ctx, cancel := c.db.p.opContext(ctx)
	defer cancel()
	if _, err := c.mc.Indexes().CreateOne(ctx, mongo.IndexModel{Keys: keys, Options: opts}); err != nil {
		return c.db.p.wrap(fmt.Sprintf("create index %q on %q", name, c.name), err)
	}
	return nil
}

// Indexes lists the declared indexes, sorted by name, without _id_ and the
// adapter's own.
func (c *Collection) Indexes(ctx context.Context) ([]store.Index, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	ctx, cancel := c.db.p.opContext(ctx)
	defer cancel()
	cur, err := c.mc.Indexes().List(ctx)
	if err != nil {
		var ce mongo.CommandError
		if errors.As(err, &ce) && ce.Code == 26 { // NamespaceNotFound
			return []store.Index{}, nil
		}
		return nil, c.db.p.wrap(fmt.Sprintf("list indexes of %q", c.name), err)
	}
	defer cur.Close(ctx)
	out := []store.Index{}
	for cur.Next(ctx) {
		idx, ok, err := indexFromSpec(cur.Current)
		if err != nil {
			return nil, fmt.Errorf("mongo: indexes of %q: %w", c.name, err)
		}
		if ok {
			out = append(out, idx)
		}
	}
	if err := cur.Err(); err != nil {
		return nil, c.db.p.wrap(fmt.Sprintf("list indexes of %q", c.name), err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// indexFromSpec reads one listIndexes entry; ok is false for _id_ and
// internal indexes.
func indexFromSpec(spec bson.Raw) (store.Index, bool, error) {
	name, _ := spec.Lookup("name").StringValueOK()
	if name == "" || name == "_id_" || strings.HasPrefix(name, internalPrefix) {
		return store.Index{}, false, nil
	}
	keyDoc, ok := spec.Lookup("key").DocumentOK()
	if !ok {
		return store.Index{}, false, fmt.Errorf("index %q has no key document", name)
	}
	elems, err := keyDoc.Elements()
	if err != nil {
		return store.Index{}, false, err
	}
	idx := store.Index{Name: name}
	for _, e := range elems {
		f := e.Key()
		if dir, ok := e.Value().AsFloat64OK(); ok && dir < 0 {
			f = "-" + f
		}
		idx.Fields = append(idx.Fields, f)
	}
	idx.Unique, _ = spec.Lookup("unique").BooleanOK()
	return idx, true, nil
}
