package audit

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/skybridgehq/skybridge/internal/jsonenc"
	"github.com/skybridgehq/skybridge/store"
)

// The compact line is how segments of formats 2 and 3 store a record:
// its position and own fields, without the ones its segment implies
// (chain, prev) and without field names, separated by '|':
//
//	n, time, app, env, actorKind, actorId, appVersion, userAgent, ip,
//	method, route, resource, action, status, latencyMs, requestId
//
// A backslash, '|', newline or carriage return inside a field is written
// as \\, \p, \n or \r; nothing else is escaped. The line is about a third
// of the canonical encoding, which repeats every field name and two
// hashes per record, and holds no quotes or control characters for the
// store's JSON to escape again:
// the store encodes, writes and indexes that much less for every request
// audited. The hash still covers the canonical encoding: a reader rebuilds
// it from the decoded fields.
//
// Format 3 writes a segment's first line as format 2 does and shortens
// the lines after it, which mostly repeat their predecessor (one client,
// one route, one status): there, a field from app on that is empty holds
// the same value as on the line before, an empty value that differs from
// the line before is written \e, and the time is the number of
// microseconds after the segment's first record (negative before it).
// Position and request id stay in every line, so a deleted line still
// shows as a missing position.
const compactFields = 16

// emptyField is how a line of format 3 after a segment's first writes an
// empty value that its predecessor does not have.
const emptyField = `\e`

// lineStrings are r's string fields from app to action, in line order.
func (r *Record) lineStrings() [11]string {
	return [...]string{r.App, r.Env, r.Actor.Kind, r.Actor.ID, r.AppVersion,
		r.UserAgent, r.IP, r.Method, r.Route, r.Resource, r.Action}
}

// appendCompact appends r's compact line (without the leading short hash
// or the newline). With prev nil it writes a self-contained line (format
// 2, and a format 3 segment's first line); else a format 3 line after
// prev, the record on the line before, in a segment whose first record
// has time first.
func (r *Record) appendCompact(b []byte, prev *Record, first time.Time) []byte {
	b = strconv.AppendInt(b, r.N, 10)
	b = append(b, '|')
	if prev == nil {
		b = appendTimestamp(b, r.Time) // nothing in it to escape
	} else {
		b = strconv.AppendInt(b, r.Time.Sub(first).Microseconds(), 10)
	}
	var was [11]string
	if prev != nil {
		was = prev.lineStrings()
	}
	for i, s := range r.lineStrings() {
		b = append(b, '|')
		b = appendRepeatable(b, s, was[i], prev != nil)
	}
	b = append(b, '|')
	if prev == nil || r.Status != prev.Status {
		b = strconv.AppendInt(b, int64(r.Status), 10)
	}
	b = append(b, '|')
	if prev == nil || math.Float64bits(r.LatencyMs) != math.Float64bits(prev.LatencyMs) {
		var ok bool
		if b, ok = jsonenc.AppendFloat(b, r.LatencyMs); !ok {
			b = append(b, '0') // normalize lets no NaN or infinity through
		}
	}
	b = append(b, '|')
	var wasID string
	if prev != nil {
		wasID = prev.RequestID
	}
	return appendRepeatable(b, r.RequestID, wasID, prev != nil)
}

// appendRepeatable appends field s of a line; when repeat is set (format
// 3, after a segment's first line) and the line before held was, a
// repeated value is left empty and a new empty one is written emptyField.
func appendRepeatable(b []byte, s, was string, repeat bool) []byte {
	switch {
	case !repeat:
		return appendField(b, s)
	case s == was:
		return b
	case s == "":
		return append(b, emptyField...)
	}
	return appendField(b, s)
}

// appendField appends s with its backslashes, separators and line breaks
// escaped.
func appendField(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		var esc byte
		switch s[i] {
		case '\\':
			esc = '\\'
		case '|':
			esc = 'p'
		case '\n':
			esc = 'n'
		case '\r':
			esc = 'r'
		default:
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, '\\', esc)
		start = i + 1
	}
	return append(b, s[start:]...)
}

// unescapeField reverses appendField; ok is false for a backslash that
// starts no escape.
func unescapeField(s string) (string, bool) {
	if strings.IndexByte(s, '\\') < 0 {
		return s, true
	}
	var sb strings.Builder
	sb.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			sb.WriteByte(c)
			continue
		}
		if i++; i == len(s) {
			return "", false
		}
		switch s[i] {
		case '\\':
			sb.WriteByte('\\')
		case 'p':
			sb.WriteByte('|')
		case 'n':
			sb.WriteByte('\n')
		case 'r':
			sb.WriteByte('\r')
		default:
			return "", false
		}
	}
	return sb.String(), true
}

// recordFromCompact decodes a compact line into the record's position and
// own fields; the caller sets chain, prev and hash. prev is nil for a
// self-contained line (format 2, or a format 3 segment's first line), else
// the record decoded from the line before, in a segment whose first record
// has time first.
func recordFromCompact(line string, prev *Record, first time.Time) (Record, error) {
	var f [compactFields]string
	rest := line
	for i := range f {
		if i == compactFields-1 {
			f[i] = rest
			break
		}
		var ok bool
		if f[i], rest, ok = strings.Cut(rest, "|"); !ok {
			return Record{}, fmt.Errorf("%w: stored record has %d fields, want %d", ErrCorrupt, i+1, compactFields)
		}
	}
	if strings.IndexByte(f[compactFields-1], '|') >= 0 {
		return Record{}, fmt.Errorf("%w: stored record has more than %d fields", ErrCorrupt, compactFields)
	}
	var r Record
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return Record{}, fmt.Errorf("%w: stored record: bad position", ErrCorrupt)
	}
	r.N = n
	if prev == nil {
		ts, ok := unescapeField(f[1])
		if r.Time, err = time.Parse(store.TimeFormat, ts); !ok || err != nil {
			return Record{}, fmt.Errorf("%w: stored record: bad time", ErrCorrupt)
		}
	} else {
		us, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return Record{}, fmt.Errorf("%w: stored record: bad time offset", ErrCorrupt)
		}
		r.Time = first.Add(time.Duration(us) * time.Microsecond)
	}
	var was [11]string
	if prev != nil {
		was = prev.lineStrings()
	}
	dst := [...]*string{&r.App, &r.Env, &r.Actor.Kind, &r.Actor.ID, &r.AppVersion,
		&r.UserAgent, &r.IP, &r.Method, &r.Route, &r.Resource, &r.Action}
	for i, p := range dst {
		s, ok := readRepeatable(f[2+i], was[i], prev != nil)
		if !ok {
			return Record{}, fmt.Errorf("%w: stored record: field %d has a bad escape", ErrCorrupt, 2+i)
		}
		*p = s
	}
	var wasID string
	if prev != nil {
		wasID = prev.RequestID
	}
	var ok bool
	if r.RequestID, ok = readRepeatable(f[15], wasID, prev != nil); !ok {
		return Record{}, fmt.Errorf("%w: stored record: field 15 has a bad escape", ErrCorrupt)
	}
	if prev != nil && f[13] == "" {
		r.Status = prev.Status
	} else if status, err := strconv.ParseInt(f[13], 10, 0); err == nil {
		r.Status = int(status)
	} else {
		return Record{}, fmt.Errorf("%w: stored record: bad status", ErrCorrupt)
	}
	if prev != nil && f[14] == "" {
		r.LatencyMs = prev.LatencyMs
	} else if r.LatencyMs, err = strconv.ParseFloat(f[14], 64); err != nil {
		return Record{}, fmt.Errorf("%w: stored record: bad latency", ErrCorrupt)
	}
	return r, nil
}

// readRepeatable reverses appendRepeatable; ok is false for a bad escape.
func readRepeatable(s, was string, repeat bool) (string, bool) {
	switch {
	case !repeat:
		return unescapeField(s)
	case s == "":
		return was, true
	case s == emptyField:
		return "", true
	}
	return unescapeField(s)
}
