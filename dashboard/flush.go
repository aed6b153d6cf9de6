package dashboard

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// minuteDoc is one environment's counts of one minute on one node: what
// the flusher writes as one document, and what Report merges.
type minuteDoc struct {
	id       string // "" for a minute still open in memory
	app, env string
	minute   int64
	pushes   int64
	series   []seriesCounts
}

// seriesCounts are one series' counts of one minute.
type seriesCounts struct {
	method, route, version                                 string
	requests, errors, clientErrors, cacheHits, cacheMisses int64
	hist                                                   [histBuckets]int64
}

// empty reports whether c counted nothing.
func (c *seriesCounts) empty() bool {
	return c.requests == 0 && c.errors == 0 && c.clientErrors == 0 && c.cacheHits == 0 && c.cacheMisses == 0
}

// read copies slot sl into c; drain also zeroes sl, counter by counter.
func (c *seriesCounts) read(sl *slot, drain bool) {
	if drain {
		c.requests, c.errors, c.clientErrors = sl.requests.Swap(0), sl.errors.Swap(0), sl.clientErrors.Swap(0)
		c.cacheHits, c.cacheMisses = sl.cacheHits.Swap(0), sl.cacheMisses.Swap(0)
		for i := range sl.hist {
			c.hist[i] = sl.hist[i].Swap(0)
		}
		return
	}
	c.requests, c.errors, c.clientErrors = sl.requests.Load(), sl.errors.Load(), sl.clientErrors.Load()
	c.cacheHits, c.cacheMisses = sl.cacheHits.Load(), sl.cacheMisses.Load()
	for i := range sl.hist {
		c.hist[i] = sl.hist[i].Load()
	}
}

// collect reads minute m of every environment from memory; drain zeroes
// what it read. Only environments with counts are returned.
func (r *Recorder) collect(m int64, drain bool) []*minuteDoc {
	var out []*minuteDoc
	r.envs.Range(func(_, v any) bool {
		if d := collectEnv(v.(*envStats), m, drain); d != nil {
			out = append(out, d)
		}
		return true
	})
	return out
}

// collectEnv reads minute m of one environment; nil when it counted
// nothing.
func collectEnv(e *envStats, m int64, drain bool) *minuteDoc {
	i := m & (slots - 1)
	d := &minuteDoc{app: e.app, env: e.env, minute: m}
	if drain {
		d.pushes = e.pushes[i].Swap(0)
	} else {
		d.pushes = e.pushes[i].Load()
	}
	for _, s := range e.list() {
		c := seriesCounts{method: s.method, route: s.route, version: s.version}
		c.read(&s.slots[i], drain)
		if !c.empty() {
			d.series = append(d.series, c)
		}
	}
	if d.pushes == 0 && len(d.series) == 0 {
		return nil
	}
	return d
}

// flush drains the closed minutes (with all, the open one too) into
// pending documents and writes every pending document. A document whose
// write fails stays pending, counted by Report, and is retried on the
// next flush; pending minutes older than the retention are dropped.
func (r *Recorder) flush(ctx context.Context, all bool) error {
	now := r.cfg.Now()
	upTo := minuteOf(now.Add(-r.cfg.FlushDelay)) - 1
	if all {
		upTo = minuteOf(now)
	}
	r.mu.Lock()
	// A slot is reused every `slots` minutes: minutes further back than
	// that are in the slots of later ones, and are drained with those.
	for m := max(r.drained+1, upTo-slots+2); m <= upTo; m++ {
		for _, d := range r.collect(m, true) {
			r.seq++
			d.id = fmt.Sprintf("%s:%s:%d:%s:%d", d.app, d.env, d.minute, r.cfg.Node, r.seq)
			r.pending[d.id] = d
		}
	}
	r.drained = max(r.drained, upTo)
	oldest := minuteOf(now.Add(-r.cfg.Retention))
	docs := make([]*minuteDoc, 0, len(r.pending))
	for id, d := range r.pending {
		if d.minute < oldest {
			r.log.Warn("dashboard: dropped a minute never written", "app", d.app, "env", d.env, "minute", timeOf(d.minute))
			delete(r.pending, id)
			continue
		}
		docs = append(docs, d)
	}
	r.mu.Unlock()

	var errs []error
	coll := r.sys.Collection(Collection)
	for _, d := range docs {
		_, err := coll.Insert(ctx, d.encode(r.cfg.Node))
		if err != nil && !errors.Is(err, store.ErrDuplicate) {
			errs = append(errs, err)
			continue
		}
		r.mu.Lock()
		delete(r.pending, d.id)
		r.mu.Unlock()
	}
	if len(errs) > 0 {
		return fmt.Errorf("dashboard: %d of %d minutes not written (kept for the next flush): %w", len(errs), len(docs), errors.Join(errs...))
	}
	return nil
}

// pruneEvery is how often the flusher deletes documents past the
// retention.
const pruneEvery = 10 * time.Minute

// prune deletes the documents past the retention, at most every
// pruneEvery.
func (r *Recorder) prune(ctx context.Context) {
	now := r.cfg.Now()
	if now.Sub(r.pruned) < pruneEvery {
		return
	}
	r.pruned = now
	cutoff := minuteOf(now.Add(-r.cfg.Retention))
	q := store.Query{Filter: store.Compare{Path: "minute", Op: store.OpLt, Value: cutoff}, Limit: 500}
	if _, err := store.DeleteMatching(ctx, r.sys.Collection(Collection), q); err != nil {
		r.log.Warn("dashboard: delete minutes past the retention", "err", err)
	}
}

// encode is d as a store document. Histograms are sparse: the buckets
// that counted something in "b" and their counts in "bn" (two lists, not
// pairs: FerretDB stores no nested arrays).
func (d *minuteDoc) encode(node string) store.Doc {
	series := make([]any, 0, len(d.series))
	for i := range d.series {
		c := &d.series[i]
		var buckets, counts []any
		for b, n := range c.hist {
			if n != 0 {
				buckets, counts = append(buckets, int64(b)), append(counts, n)
			}
		}
		series = append(series, map[string]any{
			"m": c.method, "r": c.route, "v": c.version,
			"n": c.requests, "e": c.errors, "c": c.clientErrors, "h": c.cacheHits, "x": c.cacheMisses,
			"b": buckets, "bn": counts,
		})
	}
	return store.Doc{
		store.FieldID: d.id, "app": d.app, "env": d.env, "node": node,
		"minute": d.minute, "pushes": d.pushes, "series": series,
	}
}

// decodeMinute reads a document encode wrote; malformed parts count as
// zero.
func decodeMinute(doc store.Doc) *minuteDoc {
	d := &minuteDoc{id: store.DocID(doc), app: str(doc["app"]), env: str(doc["env"])}
	d.minute, _ = store.Int64(doc["minute"])
	d.pushes, _ = store.Int64(doc["pushes"])
	list, _ := doc["series"].([]any)
	for _, v := range list {
		m, ok := v.(map[string]any)
		if !ok {
			continue
		}
		c := seriesCounts{method: str(m["m"]), route: str(m["r"]), version: str(m["v"])}
		c.requests, _ = store.Int64(m["n"])
		c.errors, _ = store.Int64(m["e"])
		c.clientErrors, _ = store.Int64(m["c"])
		c.cacheHits, _ = store.Int64(m["h"])
		c.cacheMisses, _ = store.Int64(m["x"])
		buckets, _ := m["b"].([]any)
		counts, _ := m["bn"].([]any)
		for j := range min(len(buckets), len(counts)) {
			b, ok1 := store.Int64(buckets[j])
			n, ok2 := store.Int64(counts[j])
			if ok1 && ok2 && b >= 0 && b < histBuckets {
				c.hist[b] += n
			}
		}
		d.series = append(d.series, c)
	}
	return d
}

func str(v any) string { s, _ := v.(string); return s }
