package audit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// ConvertRecords rewrites, in place, the records that versions before
// segments stored one per document (every Record field as a document
// field) into segments of one record: same _id (recordID(chain, n) is
// also a one-record segment's _id), the same chain and n. A trail written before
// segments then verifies, queries and prunes as one written since. It
// copies every field as stored, so a record edited before the conversion
// still fails its hash; a document that does not decode is left as it is
// (Verify reports it). It is idempotent and safe to run while Services
// write, since they write segments only; a document changed meanwhile is
// skipped. It returns how many documents it converted. The migrations
// package runs it on the system database.
func ConvertRecords(ctx context.Context, db store.DB) (int, error) {
	col := db.Collection(RecordsCollection)
	q := store.Query{
		Filter: store.Exists{Path: "records", Exists: false},
		Limit:  store.MaxLimit,
	}
	converted := 0
	for {
		p, err := col.Find(ctx, q)
		if err != nil {
			return converted, fmt.Errorf("audit: convert records: %w", err)
		}
		for _, d := range p.Docs {
			r, err := fromDoc(d)
			if err != nil {
				continue
			}
			v, _ := store.Int64(d[store.FieldVersion])
			var b segmentBuilder
			b.add(&r, r.canonicalJSON()) // format 1: the stored hash, whether it still matches or not
			_, err = col.Replace(ctx, store.DocID(d), v, b.doc())
			switch {
			case errors.Is(err, store.ErrVersionConflict), errors.Is(err, store.ErrNotFound):
				continue
			case err != nil:
				return converted, fmt.Errorf("audit: convert record %s: %w", store.DocID(d), err)
			}
			converted++
		}
		if p.Cursor == "" {
			return converted, nil
		}
		q.Cursor = p.Cursor
	}
}

// fromDoc decodes a stored record. A field of the wrong type is an error
// (Verify reports it as a broken record).
func fromDoc(d store.Doc) (Record, error) {
	x := &docReader{d: d}
	var r Record
	ts := x.str(d["time"], "time")
	t, err := time.Parse(store.TimeFormat, ts)
	if err != nil && x.bad == "" {
		x.bad = "time"
	}
	r.Time = t
	r.App = x.str(d["app"], "app")
	r.Env = x.str(d["env"], "env")
	if a, ok := d["actor"].(map[string]any); ok {
		r.Actor.Kind = x.str(a["kind"], "actor.kind")
		r.Actor.ID = x.str(a["id"], "actor.id")
	} else if d["actor"] != nil && x.bad == "" {
		x.bad = "actor"
	}
	r.AppVersion = x.str(d["appVersion"], "appVersion")
	r.UserAgent = x.str(d["userAgent"], "userAgent")
	r.IP = x.str(d["ip"], "ip")
	r.Method = x.str(d["method"], "method")
	r.Route = x.str(d["route"], "route")
	r.Resource = x.str(d["resource"], "resource")
	r.Action = x.str(d["action"], "action")
	r.Status = int(x.num(d["status"], "status"))
	r.LatencyMs = x.num(d["latencyMs"], "latencyMs")
	r.RequestID = x.str(d["requestId"], "requestId")
	r.Chain = x.str(d["chain"], "chain")
	r.N = int64(x.num(d["n"], "n"))
	r.Prev = x.str(d["prev"], "prev")
	r.Hash = x.str(d["hash"], "hash")
	if x.bad != "" {
		return r, fmt.Errorf("%w: stored record %s: field %q has the wrong type", ErrCorrupt, recordID(r.Chain, r.N), x.bad)
	}
	return r, nil
}
