package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Bench measures insert, get-by-id and a filtered, sorted query of 20
// results, each from parallel goroutines, reporting ops/s.
func Bench(b *testing.B, newP NewProvider) {
	p := newP(b)
	b.Cleanup(func() { p.Close() })
	db, err := p.DB(context.Background(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	c := db.Collection("items")
	// The index an app would declare for the query below: its key order
	// (cat, then n descending) is the query's, so no adapter has to sort.
	if err := c.EnsureIndex(context.Background(), store.Index{Fields: []string{"cat", "-n"}}); err != nil {
		b.Fatal(err)
	}
	const seed = 2000
	ids := make([]string, seed)
	for i := range ids {
		d, err := c.Insert(context.Background(), store.Doc{"title": fmt.Sprintf("item %d", i), "cat": fmt.Sprintf("c%d", i%10), "n": i})
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = store.DocID(d)
	}
	measure := func(b *testing.B, op func(i int) error) {
		b.ReportAllocs()
		b.SetParallelism(4)
		start := time.Now()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				i++
				if err := op(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
	}
	b.Run("op=insert", func(b *testing.B) {
		measure(b, func(i int) error {
			_, err := c.Insert(context.Background(), store.Doc{"title": "new", "cat": "c1", "n": i})
			return err
		})
	})
	b.Run("op=get", func(b *testing.B) {
		measure(b, func(i int) error {
			_, err := c.Get(context.Background(), ids[i%seed])
			return err
		})
	})
	b.Run("op=query", func(b *testing.B) {
		f := store.And{Filters: []store.Filter{
			store.Compare{Path: "cat", Op: store.OpEq, Value: "c3"},
			store.Compare{Path: "n", Op: store.OpGte, Value: int64(100)},
		}}
		sort := []store.SortKey{{Path: "n", Desc: true}}
		measure(b, func(int) error {
			page, err := c.Find(context.Background(), store.Query{Filter: f, Sort: sort, Limit: 20})
			if err == nil && len(page.Docs) != 20 {
				err = fmt.Errorf("query returned %d documents", len(page.Docs))
			}
			return err
		})
	})
}
