package push

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Outcome codes recorded per item in a batch's "out": "" not yet sent,
// "sent", "pruned:<reason>" or "failed:<reason>".
const (
	outSent   = "sent"
	outPruned = "pruned:"
	outFailed = "failed:"
)

// batchItem is one installation of a batch.
type batchItem struct {
	id, token, platform, locale string
	due                         string
}

func batchItems(d store.Doc) []batchItem {
	l, _ := d["items"].([]any)
	out := make([]batchItem, len(l))
	for i, v := range l {
		m, _ := v.(map[string]any)
		out[i] = batchItem{id: stringOf(m["id"]), token: stringOf(m["t"]), platform: stringOf(m["p"]), locale: stringOf(m["l"]), due: stringOf(m["d"])}
	}
	return out
}

// batchOne claims one due batch (pending, or running under an ended
// lease) and sends it. It reports whether it found one.
func (s *Service) batchOne(ctx context.Context) (bool, error) {
	now := store.FormatTime(s.cfg.Now().UTC())
	f := store.Or{Filters: []store.Filter{
		store.And{Filters: []store.Filter{
			store.Compare{Path: "state", Op: store.OpEq, Value: statePending},
			store.Compare{Path: "due", Op: store.OpLte, Value: now},
		}},
		store.And{Filters: []store.Filter{
			store.Compare{Path: "state", Op: store.OpEq, Value: stateRunning},
			store.Compare{Path: "lease", Op: store.OpLt, Value: now},
		}},
	}}
	page, err := s.sys.Collection(BatchesCollection).Find(ctx, store.Query{Filter: f, Sort: []store.SortKey{{Path: "due"}}, Limit: 2 * s.cfg.Workers})
	if err != nil {
		return false, fmt.Errorf("push: find due batches: %w", err)
	}
	// Nodes start at different places, so that they rarely race for one.
	docs := page.Docs
	rand.Shuffle(len(docs), func(i, j int) { docs[i], docs[j] = docs[j], docs[i] })
	for _, cur := range docs {
		next := copyFields(cur)
		next["state"], next["owner"] = stateRunning, s.node
		next["lease"] = store.FormatTime(s.cfg.Now().UTC().Add(s.cfg.Lease))
		stored, ok, err := s.claim(ctx, BatchesCollection, cur, next)
		if err != nil {
			return false, err
		}
		if ok {
			return true, s.runBatch(ctx, stored)
		}
	}
	return false, nil
}

// batchRun is the state of one batch being sent.
type batchRun struct {
	s     *Service
	mu    sync.Mutex
	head  store.Doc // the header as last written by this node
	out   []any
	att   []any
	items []any
	lost  bool // another node took the batch over
}

// counts sums the outcomes into the header fields Status reads.
func (b *batchRun) counts() map[string]any {
	var sent, pruned, pending int64
	failed := map[string]any{}
	for _, o := range b.out {
		code := stringOf(o)
		switch {
		case code == "":
			pending++
		case code == outSent:
			sent++
		case strings.HasPrefix(code, outPruned):
			pruned++
		default:
			r := strings.TrimPrefix(code, outFailed)
			n, _ := store.Int64(failed[r])
			failed[r] = n + 1
		}
	}
	return map[string]any{"sent": sent, "pruned": pruned, "failed": failed, "pending": pending}
}

// write records progress: the header under compare-and-swap with the
// version this node wrote last (a conflict means the lease was lost),
// set added to it, and the items' outcomes. With release, the items go
// first: the header then frees the batch for any node, which must find
// them written.
func (b *batchRun) write(ctx context.Context, set map[string]any, release bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.lost {
		return nil
	}
	items := store.Doc{"items": b.items, "out": append([]any(nil), b.out...), "att": append([]any(nil), b.att...)}
	id := store.DocID(b.head)
	writeItems := func() error {
		if _, err := b.s.sys.Collection(BatchItemsCollection).Replace(ctx, id, 0, items); err != nil {
			return fmt.Errorf("push: record the items of batch %s: %w", id, err)
		}
		return nil
	}
	if release {
		if err := writeItems(); err != nil {
			return err
		}
	}
	next := copyFields(b.head)
	for k, v := range b.counts() {
		next[k] = v
	}
	for k, v := range set {
		next[k] = v
	}
	stored, err := b.s.sys.Collection(BatchesCollection).Replace(ctx, id, store.DocVersion(b.head), next)
	if errors.Is(err, store.ErrVersionConflict) || errors.Is(err, store.ErrNotFound) {
		b.lost = true
		return nil
	}
	if err != nil {
		return err
	}
	b.head = stored
	if !release {
		return writeItems()
	}
	return nil
}

// runBatch sends the due, unsent items of a claimed batch.
func (s *Service) runBatch(ctx context.Context, head store.Doc) error {
	bid, nid := store.DocID(head), stringOf(head["nid"])
	notif, err := s.sys.Collection(NotificationsCollection).Get(ctx, nid)
	if err != nil {
		return fmt.Errorf("push: notification of batch %s: %w", bid, err)
	}
	req, err := decodeRequest(stringOf(notif["request"]), s.cfg.Now())
	if err != nil {
		return err
	}
	doc, err := s.sys.Collection(BatchItemsCollection).Get(ctx, bid)
	if err != nil {
		return fmt.Errorf("push: items of batch %s: %w", bid, err)
	}
	env := Env{AppID: stringOf(head["app"]), Name: stringOf(head["env"]), DB: stringOf(head["db"])}
	b := &batchRun{s: s, head: head}
	b.out, _ = doc["out"].([]any)
	b.att, _ = doc["att"].([]any)
	b.items, _ = doc["items"].([]any)
	items := batchItems(doc)
	if len(b.out) != len(items) || len(b.att) != len(items) {
		return fmt.Errorf("push: batch %s is malformed", bid)
	}
	senders := map[string]*platformSender{}
	for _, p := range []string{PlatformIOS, PlatformAndroid} {
		senders[p] = s.senderFor(ctx, env, p)
	}
	senders[PlatformWeb] = senders[PlatformAndroid]
	now := store.FormatTime(s.cfg.Now().UTC())
	var due []int
	for i, it := range items {
		if stringOf(b.out[i]) == "" && it.due <= now {
			due = append(due, i)
		}
	}
	// Renew the lease and record progress while sending.
	renewDone := make(chan struct{})
	renewStopped := make(chan struct{})
	go func() {
		defer close(renewStopped)
		t := time.NewTicker(s.cfg.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-renewDone:
				return
			case <-t.C:
				if err := b.write(ctx, map[string]any{"lease": store.FormatTime(s.cfg.Now().UTC().Add(s.cfg.Lease))}, false); err != nil {
					s.log.Warn("push: renew batch lease", "batch", bid, "err", err)
				}
			}
		}
	}()
	lim := s.limiter(env.DB)
	work := make(chan int)
	var wg sync.WaitGroup
	reasons := map[string]string{}
	var reasonsMu sync.Mutex
	for range min(s.cfg.Concurrency, max(len(due), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				b.mu.Lock()
				lost := b.lost
				b.mu.Unlock()
				if lost || s.stopping() {
					continue
				}
				if err := lim.Wait(ctx); err != nil {
					continue
				}
				it := items[i]
				ps := senders[it.platform]
				res := s.deliver(ctx, ps, nid, it, &req)
				if res.reason != "" && ps != nil {
					if r := ps.failure(); r != "" {
						reasonsMu.Lock()
						reasons[it.platform] = r
						reasonsMu.Unlock()
					}
				}
				if strings.HasPrefix(res.code, outPruned) {
					s.pruneInstallation(context.WithoutCancel(ctx), env.DB, it.id, it.token)
				}
				b.mu.Lock()
				n, _ := store.Int64(b.att[i])
				n += int64(res.attempts)
				b.att[i] = n
				switch {
				case res.code != "":
					b.out[i] = res.code
				case n >= int64(s.cfg.MaxAttempts):
					b.out[i] = outFailed + res.reason
				case !res.deferTo.IsZero():
					m, _ := b.items[i].(map[string]any)
					m2 := make(map[string]any, len(m))
					for k, v := range m {
						m2[k] = v
					}
					m2["d"] = store.FormatTime(res.deferTo)
					b.items[i] = m2
				}
				code := stringOf(b.out[i])
				b.mu.Unlock()
				s.metrics.sent.WithLabelValues(it.platform, outcomeLabel(code)).Inc()
				if code == outSent && s.cfg.OnSent != nil {
					s.cfg.OnSent(env)
				}
			}
		}()
	}
feed:
	for _, i := range due {
		select {
		case work <- i:
		case <-s.stop:
			break feed
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	close(renewDone)
	<-renewStopped
	// Final record: done when every item has an outcome, else back to
	// pending at the earliest remaining due time.
	b.mu.Lock()
	next := ""
	for i := range b.items {
		if stringOf(b.out[i]) != "" {
			continue
		}
		m, _ := b.items[i].(map[string]any)
		if d := stringOf(m["d"]); next == "" || d < next {
			next = d
		}
	}
	b.mu.Unlock()
	wctx := context.WithoutCancel(ctx)
	set := map[string]any{"owner": "", "lease": ""}
	if next == "" {
		set["state"], set["finishedAt"] = stateDone, store.FormatTime(s.cfg.Now().UTC())
	} else {
		set["state"], set["due"] = statePending, next
	}
	// Why credentials failed, for Status (kept in the batch: the
	// planner may still be rewriting the notification).
	if len(reasons) > 0 {
		var parts []string
		for _, p := range []string{PlatformIOS, PlatformAndroid, PlatformWeb} {
			if r := reasons[p]; r != "" && !contains(parts, r) {
				parts = append(parts, r)
			}
		}
		set["reason"] = strings.Join(parts, " ")
	}
	if err := b.write(wctx, set, true); err != nil {
		return fmt.Errorf("push: record batch %s: %w", bid, err)
	}
	if next != "" {
		s.nudge()
	}
	return nil
}

// delivery is what became of one item.
type delivery struct {
	code     string // outcome code; "" when not final
	reason   string
	attempts int
	deferTo  time.Time // when code is "": try again then
}

// deliver sends one item, retrying 429, 5xx and transport failures with
// backoff (Retry-After when given) within Config.MaxRetryBackoff; a longer
// wait, or a stop, defers the item.
func (s *Service) deliver(ctx context.Context, ps *platformSender, nid string, it batchItem, req *SendRequest) delivery {
	if ps == nil || ps.sender == nil {
		reason := "UnsupportedPlatform"
		if ps != nil {
			reason = ps.code
		}
		return delivery{code: outFailed + reason, reason: reason}
	}
	msg := outMessage{nid: nid, instID: it.id, token: it.token, platform: it.platform, locale: it.locale, req: req}
	for attempt := 1; ; attempt++ {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.SendTimeout)
		start := time.Now()
		r := ps.sender.send(sctx, &msg)
		cancel()
		s.metrics.duration.WithLabelValues(it.platform).Observe(time.Since(start).Seconds())
		switch r.kind {
		case resultSent:
			return delivery{code: outSent, attempts: attempt}
		case resultPrune:
			return delivery{code: outPruned + r.reason, reason: r.reason, attempts: attempt}
		case resultFail:
			if r.credentials {
				ps.refused(r.reason)
			}
			return delivery{code: outFailed + r.reason, reason: r.reason, attempts: attempt}
		}
		if attempt >= s.cfg.MaxAttempts {
			return delivery{code: outFailed + r.reason, reason: r.reason, attempts: attempt}
		}
		wait := min(s.cfg.RetryBackoff<<(attempt-1), s.cfg.MaxRetryBackoff)
		if r.retryAfter > 0 {
			wait = r.retryAfter
		}
		if wait > s.cfg.MaxRetryBackoff {
			return delivery{reason: r.reason, attempts: attempt, deferTo: s.cfg.Now().UTC().Add(wait)}
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-s.stop:
			t.Stop()
			return delivery{reason: r.reason, attempts: attempt, deferTo: s.cfg.Now().UTC().Add(wait)}
		}
	}
}

func outcomeLabel(code string) string {
	switch {
	case code == outSent:
		return "sent"
	case strings.HasPrefix(code, outPruned):
		return "pruned"
	case strings.HasPrefix(code, outFailed):
		return "failed"
	}
	return "deferred"
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
