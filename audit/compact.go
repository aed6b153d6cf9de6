package audit

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/skybridgehq/skybridge/internal/jsonenc"
	"github.com/skybridgehq/skybridge/store"
)

// The compact line is how segments of format 2 store a record: a JSON
// array of the record's position and own fields, without the ones its
// segment implies (chain, prev) and without field names:
//
//	[n, time, app, env, actorKind, actorId, appVersion, userAgent, ip,
//	 method, route, resource, action, status, latencyMs, requestId]
//
// It is about a third of the canonical encoding, which repeats every
// field name and two hashes per record; the store encodes, writes and
// indexes that much less for every request audited. The hash still covers
// the canonical encoding: a reader rebuilds it from the decoded fields.
const compactFields = 16

// appendCompact appends r's compact line (without the leading short hash
// or the newline).
func (r *Record) appendCompact(b []byte) []byte {
	b = append(b, '[')
	b = strconv.AppendInt(b, r.N, 10)
	for _, s := range [...]string{
		store.FormatTime(r.Time), r.App, r.Env, r.Actor.Kind, r.Actor.ID, r.AppVersion,
		r.UserAgent, r.IP, r.Method, r.Route, r.Resource, r.Action,
	} {
		b = append(b, ',')
		b = jsonenc.AppendString(b, s)
	}
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, ',')
	var ok bool
	if b, ok = jsonenc.AppendFloat(b, r.LatencyMs); !ok {
		b = append(b, '0') // normalize lets no NaN or infinity through
	}
	b = append(b, ',')
	b = jsonenc.AppendString(b, r.RequestID)
	return append(b, ']')
}

// recordFromCompact decodes a compact line into the record's position and
// own fields; the caller sets chain, prev and hash.
func recordFromCompact(line string) (Record, error) {
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	var vals []any
	if err := dec.Decode(&vals); err != nil {
		return Record{}, fmt.Errorf("%w: stored record: %v", ErrCorrupt, err)
	}
	if dec.More() || len(vals) != compactFields {
		return Record{}, fmt.Errorf("%w: stored record has %d fields, want %d", ErrCorrupt, len(vals), compactFields)
	}
	var strs [13]string
	for i, at := range [...]int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15} {
		s, ok := vals[at].(string)
		if !ok {
			return Record{}, fmt.Errorf("%w: stored record: field %d is not a string", ErrCorrupt, at)
		}
		strs[i] = s
	}
	n, err0 := numberOf(vals[0]).Int64()
	status, err1 := numberOf(vals[13]).Int64()
	latency, err2 := numberOf(vals[14]).Float64()
	t, err3 := time.Parse(store.TimeFormat, strs[0])
	if err0 != nil || err1 != nil || err2 != nil || err3 != nil || status != int64(int(status)) {
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

// numberOf returns v as a json.Number, or one that fails to parse.
func numberOf(v any) json.Number {
	n, _ := v.(json.Number)
	return n
}
