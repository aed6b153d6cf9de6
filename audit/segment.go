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
//	records  the records in position order, one line each, ending in a
//	         newline: in format 1, the record's hash, a space and its
//	         canonical encoding (the exact bytes the hash covers); in
//	         formats 2 and 3, the first 16 hex digits of its hash, a space
//	         and its compact line (compact.go), which in format 3 leaves
//	         out what repeats the line before
//	format   2 or 3 for compact lines; absent in format 1
//	prev     (formats 2, 3) the prev hash of the first record
//	hash     (formats 2, 3) the hash of the last record
//
// The writer stores format 3; formats 1 and 2 are what earlier versions
// wrote, and ConvertRecords still writes format 1 (it keeps each old
// record's stored hash, matching or not, which a compact line cannot).
// Format 3 stores well under half the bytes of format 2 for typical
// traffic, and every byte costs the store's encoder, SQLite's pages and
// its WAL. A compact reader
// rebuilds each record's chain, prev and canonical encoding from the
// segment and works its hash out again: the short hash on its line points
// Verify at an edited record, and the segment's last hash and the chain's
// links carry the guarantee. Formats 2 and 3 hold content, not bytes:
// rewriting a line into an equivalent one (a status of 0200, a repeated
// field written out) changes no record.
//
// Records are kept as lines of one string rather than as a sub-document
// each: a store validates, copies and encodes one string far more cheaply
// than hundreds of small objects, which is most of what storing a record
// cost once the per-document index upkeep was gone. Verify checks each
// record against its hash, so any edit of a stored record shows.
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

// shortHashLen is how many hex digits of a record's hash a format 2 line
// keeps: enough to point Verify at the edited record; the segment's full
// last hash and the chain's links carry the guarantee.
const shortHashLen = 16

// maxSegmentSpan bounds to - from of one segment. Records of one batch are
// normally stamped within the flush interval of each other; only records
// with caller-chosen times (imports, tests) split a batch into more
// segments.
const maxSegmentSpan = time.Minute

// newestFormat is the segment format the writer stores.
const newestFormat = 3

// segment is a decoded segment document.
type segment struct {
	id       string
	chain    string
	first    int64
	last     int64
	from, to time.Time
	app, env string
	records  []Record
	// raw holds each record's canonical encoding: as stored (format 1),
	// or as rebuilt from its compact line (formats 2 and 3).
	raw []string
	// format is 1 (canonical lines), 2 (compact lines) or 3 (compact
	// lines that leave out repeats).
	format int
	// prev and hash are, in formats 2 and 3, the prev hash of the first
	// record and the hash of the last; short holds each line's stored hash
	// prefix.
	prev, hash string
	short      []string
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

// segmentBuilder assembles the document of one segment. The writer keeps
// one and resets it for every segment, so that its line buffer is reused.
type segmentBuilder struct {
	first, last *Record
	from, to    time.Time
	// format is the segment format to build, 2 or 3 (compact lines); the
	// zero value builds format 1 (canonical lines), as ConvertRecords
	// needs.
	format int
	lines  []byte
}

// reset empties the builder for the next segment, keeping its buffer and
// format.
func (b *segmentBuilder) reset() {
	b.first, b.last = nil, nil
	b.lines = b.lines[:0]
}

// add appends r, whose N, Prev and Hash are set, to the segment; canon
// is its canonical encoding, which a format 1 segment stores.
func (b *segmentBuilder) add(r *Record, canon []byte) {
	before := b.last
	if b.format < 3 {
		before = nil // no repeats
	}
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
	if b.format >= 2 {
		b.lines = append(b.lines, r.Hash[:shortHashLen]...)
		b.lines = append(b.lines, ' ')
		b.lines = r.appendCompact(b.lines, before, b.first.Time)
	} else {
		b.lines = append(b.lines, r.Hash...)
		b.lines = append(b.lines, ' ')
		b.lines = append(b.lines, canon...)
	}
	b.lines = append(b.lines, '\n')
}

// doc returns the segment's document; it needs at least one record.
func (b *segmentBuilder) doc() store.Doc {
	d := store.Doc{
		store.FieldID: recordID(b.first.Chain, b.first.N),
		"chain":       b.first.Chain,
		"n":           b.first.N,
		"last":        b.last.N,
		"from":        store.FormatTime(b.from),
		"to":          store.FormatTime(b.to),
		"app":         b.first.App,
		"env":         b.first.Env,
		"records":     string(b.lines),
	}
	if b.format >= 2 {
		d["format"] = int64(b.format)
		d["prev"] = b.first.Prev
		d["hash"] = b.last.Hash
	}
	return d
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
	switch f := x.num(d["format"], "format"); f {
	case 0, 1:
		sg.format = 1
	case 2, 3:
		sg.format = int(f)
		sg.prev = x.str(d["prev"], "prev")
		sg.hash = x.str(d["hash"], "hash")
	default:
		if x.bad == "" {
			x.bad = "format"
		}
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
	if sg.format >= 2 {
		sg.short = make([]string, 0, n)
	}
	for i := 0; len(lines) > 0 || i == 0; i++ {
		line, rest, _ := strings.Cut(lines, "\n")
		lines = rest
		hash, body, ok := strings.Cut(line, " ")
		if !ok {
			return sg, fmt.Errorf("%w: stored segment %q: record %d has no hash", ErrCorrupt, sg.id, i)
		}
		if sg.format == 1 {
			r, err := recordFromCanonical(body, hash)
			if err != nil {
				return sg, fmt.Errorf("segment %q: record %d: %w", sg.id, i, err)
			}
			sg.records = append(sg.records, r)
			sg.raw = append(sg.raw, body)
			continue
		}
		var before *Record
		var first time.Time
		if sg.format == 3 && i > 0 {
			before, first = &sg.records[i-1], sg.records[0].Time
		}
		r, err := recordFromCompact(body, before, first)
		if err != nil {
			return sg, fmt.Errorf("segment %q: record %d: %w", sg.id, i, err)
		}
		// What the segment implies; the hash is worked out again from the
		// content, and Verify holds it to the stored short hash.
		r.Chain, r.Prev = sg.chain, sg.prev
		if i > 0 {
			r.Prev = sg.records[i-1].Hash
		}
		canon := r.canonicalJSON()
		r.Hash = hashOf(canon)
		sg.records = append(sg.records, r)
		sg.raw = append(sg.raw, string(canon))
		sg.short = append(sg.short, hash)
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
