package audit

import (
	"container/heap"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// A query reads segments newest first (by their newest record time, "to")
// and merges their records into one newest-first stream: segments of
// different chains overlap in time, and record times need not follow
// positions even within a chain. A record is emitted once no segment left
// unread can hold a newer one, which is when the next segment's to is
// older than the record; segments are sorted by to, so that is exact.
//
// Records are ordered by time, newest first, then by chain and position,
// highest first; the order is total, so a page cursor is simply the key of
// the page's last record, and the next page holds the records after it in
// that order. Segments stored after the first page do not shift later
// pages: their records come after the cursor only when they are older than
// it, as with any keyset pagination.

// scanPage is how many segments a query reads from the store at a time.
const scanPage = 32

// queryKey is a record's place in query order, and the cursor's content.
type queryKey struct {
	Time  time.Time `json:"t"`
	Chain string    `json:"c"`
	N     int64     `json:"n"`
}

func keyOf(r *Record) queryKey { return queryKey{Time: r.Time, Chain: r.Chain, N: r.N} }

// before reports whether k comes before o in query order (is newer).
func (k queryKey) before(o queryKey) bool {
	if !k.Time.Equal(o.Time) {
		return k.Time.After(o.Time)
	}
	if k.Chain != o.Chain {
		return k.Chain > o.Chain
	}
	return k.N > o.N
}

func (k queryKey) cursor() string {
	b, _ := json.Marshal(k)
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseCursor(c string) (*queryKey, error) {
	if c == "" {
		return nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	var k queryKey
	if err == nil {
		err = json.Unmarshal(raw, &k)
	}
	if err != nil || k.Time.IsZero() || k.Chain == "" {
		return nil, fmt.Errorf("%w: malformed cursor", ErrInvalid)
	}
	return &k, nil
}

// recordHeap holds the matching records of the segments read so far, the
// newest on top.
type recordHeap []Record

func (h recordHeap) Len() int           { return len(h) }
func (h recordHeap) Less(i, j int) bool { return keyOf(&h[i]).before(keyOf(&h[j])) }
func (h recordHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *recordHeap) Push(x any)        { *h = append(*h, x.(Record)) }
func (h *recordHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	*h = old[:len(old)-1]
	return r
}

// segmentScan pages through the segments a query selects, newest first.
type segmentScan struct {
	col  store.Collection
	q    store.Query
	docs []store.Doc
	done bool // the store has no further page
}

// peek returns the next segment document without consuming it, or nil at
// the end.
func (sc *segmentScan) peek(ctx context.Context) (store.Doc, error) {
	for len(sc.docs) == 0 {
		if sc.done {
			return nil, nil
		}
		p, err := sc.col.Find(ctx, sc.q)
		if err != nil {
			if store.IsInvalid(err) {
				return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
			}
			return nil, fmt.Errorf("audit: query: %w", err)
		}
		sc.docs = p.Docs
		sc.q.Cursor = p.Cursor
		sc.done = p.Cursor == ""
	}
	return sc.docs[0], nil
}

// Query returns one page of the records q selects, newest first.
func (s *Service) Query(ctx context.Context, q Query) (Page, error) {
	if q.Limit < 0 || q.Limit > MaxLimit {
		return Page{}, fmt.Errorf("%w: limit %d (want 0 to %d)", ErrInvalid, q.Limit, MaxLimit)
	}
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	if len(resourcePattern(q.Resource)) > store.MaxRegexLen {
		return Page{}, fmt.Errorf("%w: resource is too long", ErrInvalid)
	}
	after, err := parseCursor(q.Cursor)
	if err != nil {
		return Page{}, err
	}
	sc := &segmentScan{col: s.records, q: store.Query{
		Filter: q.segmentFilter(after),
		Sort:   []store.SortKey{{Path: "to", Desc: true}},
		Limit:  scanPage,
	}}
	h := &recordHeap{}
	// load reads the next segment into h, keeping the records q selects
	// after the cursor; it reports false at the end of the scan.
	load := func() (bool, error) {
		d, err := sc.peek(ctx)
		if d == nil || err != nil {
			return false, err
		}
		sc.docs = sc.docs[1:]
		sg, err := segmentFromDoc(d)
		if err != nil {
			return false, err
		}
		for i := range sg.records {
			r := &sg.records[i]
			if q.matches(r) && (after == nil || after.before(keyOf(r))) {
				heap.Push(h, *r)
			}
		}
		return true, nil
	}
	out := Page{Items: make([]Record, 0, min(q.Limit, 64))}
	for len(out.Items) < q.Limit {
		next, err := sc.peek(ctx)
		if err != nil {
			return Page{}, err
		}
		// A segment whose newest record is not older than the top of the
		// heap may hold a record that comes first: read it before
		// emitting.
		if next != nil && (h.Len() == 0 || !segmentTo(next).Before((*h)[0].Time)) {
			if _, err := load(); err != nil {
				return Page{}, err
			}
			continue
		}
		if h.Len() == 0 {
			return out, nil
		}
		out.Items = append(out.Items, heap.Pop(h).(Record))
	}
	// The page is full: give a cursor only when a record follows.
	for h.Len() == 0 {
		more, err := load()
		if err != nil {
			return Page{}, err
		}
		if !more {
			return out, nil
		}
	}
	out.Cursor = keyOf(&out.Items[len(out.Items)-1]).cursor()
	return out, nil
}
