package store_test

import (
	"context"
	"testing"

	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/store"
)

// TestDeleteMatching deletes what the filter selects across several
// rounds and leaves the rest.
func TestDeleteMatching(t *testing.T) {
	ctx := context.Background()
	p := teststore.SQLite(t)
	db, err := p.DB(ctx, "deletes")
	if err != nil {
		t.Fatal(err)
	}
	c := db.Collection("things")
	for i := range 25 {
		if _, err := c.Insert(ctx, store.Doc{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := store.DeleteMatching(ctx, c, store.Query{Filter: store.Compare{Path: "n", Op: store.OpLt, Value: int64(20)}, Limit: 7})
	if err != nil || n != 20 {
		t.Fatalf("deleted %d, %v; want 20", n, err)
	}
	if left, err := c.Count(ctx, nil); err != nil || left != 5 {
		t.Fatalf("%d left, %v; want 5", left, err)
	}
}
