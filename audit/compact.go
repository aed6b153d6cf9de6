package audit

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/skybridgehq/skybridge/internal/jsonenc"
	"github.com/skybridgehq/skybridge/store"
)

// The compact line is how segments of format 2 store a record: its
// position and own fields, without the ones its segment implies (chain,
// prev) and without field names, separated by '|':
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
const compactFields = 16

// appendCompact appends r's compact line (without the leading short hash
// or the newline); ts is r.Time in store.TimeFormat.
func (r *Record) appendCompact(b []byte, ts string) []byte {
	b = strconv.AppendInt(b, r.N, 10)
	for _, s := range [...]string{
		ts, r.App, r.Env, r.Actor.Kind, r.Actor.ID, r.AppVersion,
		r.UserAgent, r.IP, r.Method, r.Route, r.Resource, r.Action,
	} {
		b = append(b, '|')
		b = appendField(b, s)
	}
	b = append(b, '|')
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, '|')
	var ok bool
	if b, ok = jsonenc.AppendFloat(b, r.LatencyMs); !ok {
		b = append(b, '0') // normalize lets no NaN or infinity through
	}
	b = append(b, '|')
	return appendField(b, r.RequestID)
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
// own fields; the caller sets chain, prev and hash.
func recordFromCompact(line string) (Record, error) {
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
	var strs [13]string
	for i, at := range [...]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15} {
		s, ok := unescapeField(f[at])
		if !ok {
			return Record{}, fmt.Errorf("%w: stored record: field %d has a bad escape", ErrCorrupt, at)
		}
		strs[i] = s
	}
	n, err0 := strconv.ParseInt(f[0], 10, 64)
	status, err1 := strconv.ParseInt(f[13], 10, 0)
	latency, err2 := strconv.ParseFloat(f[14], 64)
	t, err3 := time.Parse(store.TimeFormat, strs[0])
	if err0 != nil || err1 != nil || err2 != nil || err3 != nil {
		return Record{}, fmt.Errorf("%w: stored record: bad position, time, status or latency", ErrCorrupt)
	}
	return Record{
		N:    n,
		Time: t, App: strs[1], Env: strs[2], Actor: Actor{Kind: strs[3], ID: strs[4]},
		AppVersion: strs[5], UserAgent: strs[6], IP: strs[7], Method: strs[8],
		Route: strs[9], Resource: strs[10], Action: strs[11],
		Status: int(status), LatencyMs: latency, RequestID: strs[12],
	}, nil
}
