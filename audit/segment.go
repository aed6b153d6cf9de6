package audit

import (
	"fmt"
	"strings"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// A segment is how records are stored: one document of RecordsCollection
// holds a run of consecutive records of one chain (those of one writer
// batch), so that a batch costs one store insert per chain instead of one
// per record (each insert maintains every index of the collection).
//
// A segment document carries:
//
//	_id      recordID(chain, n): the _id its first record had when records
//	         were stored one per document
//	chain    the chain
//	n        position of its first record
//	last     position of its last record
//	from, to the oldest and newest record time (store.FormatTime); record
//	         times need not follow positions, callers may stamp them
//	app, env the app environment of every record (the chain's)
//	records  the records in position order, one line each: the record's
//	         hash, a space, and its canonical encoding (the exact bytes
//	         the hash covers), ending in a newline
//
// Records are kept in their canonical encoding, as one string, rather than
// as a sub-document each: the writer has that encoding at hand already
// (it hashes it), and a store validates, copies and encodes a string far
// more cheaply than hundreds of small objects, which is most of what
// storing a record cost once the per-document index upkeep was gone.
// Verify checks each line's bytes against its hash, so any edit of a
// stored record shows.
//
// The first position is stored as "n", not under a new name, so that the
// unique (chain, n) index that databases already have keeps guarding
// positions: a segment field missing from that index would count as null
// on MongoDB's sparse unique index and make every second segment of a chain
// a duplicate.
//
// A segment spans at most maxSegmentSpan of record time, so that Prune,
// which removes whole segments, keeps records at most that much past the
// cutoff, and so that a query's time bounds select few segments that do
// not match.

// maxSegmentSpan bounds to - from of one segment. Records of one batch are
// normally stamped within the flush interval of each other; only records
// with caller-chosen times (imports, tests) split a batch into more
// segments.
const maxSegmentSpan = time.Minute

// segment is a decoded segment document.
type segment struct {
	id       string
	chain    string
	first    int64
	last     int64
	from, to time.Time
	app, env string
	records  []Record
	// raw holds each record's stored canonical encoding.
	raw []string
}

// segmentEnd returns how many of recs (one chain's, in position order)
// the next segment takes: at most limit, and no more than keeps the
// segment's time span within maxSegmentSpan. It is at least 1.
func segmentEnd(recs []*Record, limit int) int {
	lo, hi := recs[0].Time, recs[0].Time
	for i := 1; i < len(recs); i++ {
		if i == limit {
			return i
		}
		t := recs[i].Time
		if t.Before(lo) {
			lo = t
		}
		if t.After(hi) {
			hi = t
		}
		if hi.Sub(lo) > maxSegmentSpan {
			return i
		}
	}
	return len(recs)
}

// segmentBuilder assembles the document of one segment.
type segmentBuilder struct {
	first, last *Record
	from, to    time.Time
	// lines holds the records' lines; callers that know their size Grow
	// it up front.
	lines strings.Builder
}

// add appends r, whose canonical encoding is canon and whose N, Prev and
// Hash are set, to the segment.
func (b *segmentBuilder) add(r *Record, canon []byte) {
	if b.first == nil {
		b.first, b.from, b.to = r, r.Time, r.Time
	}
	b.last = r
	if r.Time.Before(b.from) {
		b.from = r.Time
	}
	if r.Time.After(b.to) {
		b.to = r.Time
	}
	b.lines.WriteString(r.Hash)
	b.lines.WriteByte(' ')
	b.lines.Write(canon)
	b.lines.WriteByte('\n')
}

// doc returns the segment's document; it needs at least one record.
func (b *segmentBuilder) doc() store.Doc {
	return store.Doc{
		store.FieldID: recordID(b.first.Chain, b.first.N),
		"chain":       b.first.Chain,
		"n":           b.first.N,
		"last":        b.last.N,
		"from":        store.FormatTime(b.from),
		"to":          store.FormatTime(b.to),
		"app":         b.first.App,
		"env":         b.first.Env,
		"records":     b.lines.String(),
	}
}

// segmentFromDoc decodes a segment document. The error wraps ErrCorrupt;
// the segment returned with it holds whatever could be read (Verify
// reports the break at its first position).
func segmentFromDoc(d store.Doc) (segment, error) {
	x := &docReader{d: d}
	sg := segment{
		id:    store.DocID(d),
		chain: x.str(d["chain"], "chain"),
		first: int64(x.num(d["n"], "n")),
		last:  int64(x.num(d["last"], "last")),
		app:   x.str(d["app"], "app"),
		env:   x.str(d["env"], "env"),
	}
	var err error
	if sg.from, err = time.Parse(store.TimeFormat, x.str(d["from"], "from")); err != nil && x.bad == "" {
		x.bad = "from"
	}
	if sg.to, err = time.Parse(store.TimeFormat, x.str(d["to"], "to")); err != nil && x.bad == "" {
		x.bad = "to"
	}
	lines, ok := d["records"].(string)
	if !ok && x.bad == "" {
		x.bad = "records"
	}
	if x.bad != "" {
		return sg, fmt.Errorf("%w: stored segment %q: field %q has the wrong type", ErrCorrupt, sg.id, x.bad)
	}
	if !strings.HasSuffix(lines, "\n") {
		return sg, fmt.Errorf("%w: stored segment %q: records do not end in a newline", ErrCorrupt, sg.id)
	}
	lines = lines[:len(lines)-1]
	n := strings.Count(lines, "\n") + 1
	sg.records = make([]Record, 0, n)
	sg.raw = make([]string, 0, n)
	for i := 0; len(lines) > 0 || i == 0; i++ {
		line, rest, _ := strings.Cut(lines, "\n")
		lines = rest
		hash, canon, ok := strings.Cut(line, " ")
		if !ok {
			return sg, fmt.Errorf("%w: stored segment %q: record %d has no hash", ErrCorrupt, sg.id, i)
		}
		r, err := recordFromCanonical(canon, hash)
		if err != nil {
			return sg, fmt.Errorf("segment %q: record %d: %w", sg.id, i, err)
		}
		sg.records = append(sg.records, r)
		sg.raw = append(sg.raw, canon)
	}
	return sg, nil
}

// segmentTo reads only the to field of a segment document (the zero time
// when it is unreadable, which Verify reports).
func segmentTo(d store.Doc) time.Time {
	s, _ := d["to"].(string)
	t, _ := time.Parse(store.TimeFormat, s)
	return t
}
