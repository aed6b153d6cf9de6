package iotbridge

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// Shadow limits, as AWS IoT sets them.
const (
	// DefaultShadowMaxBytes is the default of Config.ShadowMaxBytes: the
	// largest state (desired and reported, without metadata) a shadow may
	// hold, and the largest request payload.
	DefaultShadowMaxBytes = 8 << 10
	// MaxShadowDepth is how deep desired and reported may nest.
	MaxShadowDepth = 6
	// MaxClientTokenLen bounds a request's clientToken, in bytes.
	MaxClientTokenLen = 64
)

// Document is a device shadow in the AWS IoT classic shadow format, as GET
// answers it and as /update/documents shows it. Leaves of State are JSON
// values (numbers as json.Number, so that they read back as written);
// Metadata mirrors State with {"timestamp": <unix seconds>} per leaf.
type Document struct {
	// State holds desired, reported and, in answers, delta.
	State StateSections `json:"state"`
	// Metadata mirrors State with the time each leaf was last written.
	Metadata StateSections `json:"metadata"`
	// Version counts accepted updates; it only goes up, across deletes.
	Version int64 `json:"version"`
	// Timestamp is when the document was produced, in unix seconds.
	Timestamp int64 `json:"timestamp"`
	// ClientToken echoes the request's token, when it had one.
	ClientToken *string `json:"clientToken,omitempty"`
}

// StateSections are the desired, reported and delta trees of a shadow
// (or of its metadata); an empty section is left out.
type StateSections struct {
	Desired  map[string]any `json:"desired,omitempty"`
	Reported map[string]any `json:"reported,omitempty"`
	Delta    map[string]any `json:"delta,omitempty"`
}

// ShadowError is a refused shadow request: the {code, message} of an AWS
// IoT /rejected answer. It wraps the package's sentinel for its code.
type ShadowError struct {
	// Code is the AWS IoT error code: 400, 404, 409, 413 or 500.
	Code int
	// Message is the AWS IoT message, e.g. "Version conflict".
	Message string
}

func (e *ShadowError) Error() string { return fmt.Sprintf("shadow: %d %s", e.Code, e.Message) }

// Unwrap maps the code to a sentinel error.
func (e *ShadowError) Unwrap() error {
	switch e.Code {
	case 400:
		return ErrInvalid
	case 404:
		return ErrNotFound
	case 409:
		return ErrVersionConflict
	case 413:
		return ErrTooLarge
	}
	return nil
}

func rejection(code int, msg string) *ShadowError { return &ShadowError{Code: code, Message: msg} }

// section is one of desired and reported in an update request.
type section struct {
	present bool           // the request names it
	null    bool           // ... as null: delete the whole section
	tree    map[string]any // else its (partial) new content
}

// ShadowUpdate is a parsed /update request.
type ShadowUpdate struct {
	desired, reported section
	// Version, when set, must be the shadow's current version.
	Version *int64
	// ClientToken is echoed in every answer.
	ClientToken *string
}

// ShadowRequest is the common part of get and delete requests: only the
// client token matters.
type ShadowRequest struct {
	ClientToken *string
	Version     *int64
}

// decodeJSON reads one JSON value, numbers as json.Number.
func decodeJSON(payload []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data")
	}
	return v, nil
}

// parseCommon reads clientToken and version of a request object.
func parseCommon(m map[string]any) (*string, *int64, *ShadowError) {
	var token *string
	if raw, ok := m["clientToken"]; ok {
		s, isStr := raw.(string)
		if !isStr || len(s) > MaxClientTokenLen {
			return nil, nil, rejection(400, "Invalid clientToken")
		}
		token = &s
	}
	var version *int64
	if raw, ok := m["version"]; ok {
		n, isNum := raw.(json.Number)
		if !isNum {
			return token, nil, rejection(400, "Invalid version")
		}
		v, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil || v < 0 {
			return token, nil, rejection(400, "Invalid version")
		}
		version = &v
	}
	return token, version, nil
}

// ParseShadowRequest reads the payload of a get or delete request: empty,
// or an object with an optional clientToken (and version, for delete).
func ParseShadowRequest(payload []byte) (ShadowRequest, *ShadowError) {
	if len(bytes.TrimSpace(payload)) == 0 {
		return ShadowRequest{}, nil
	}
	v, err := decodeJSON(payload)
	if err != nil {
		return ShadowRequest{}, rejection(400, "Invalid JSON")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return ShadowRequest{}, rejection(400, "Invalid JSON")
	}
	token, version, rej := parseCommon(m)
	return ShadowRequest{ClientToken: token, Version: version}, rej
}

// ParseShadowUpdate reads an /update request: {"state": {"desired": ...,
// "reported": ...}, "clientToken"?, "version"?}. A payload over maxBytes
// is refused with 413. Errors carry the AWS IoT code and message; the
// client token is returned with them when it could be read.
func ParseShadowUpdate(payload []byte, maxBytes int) (ShadowUpdate, *ShadowError) {
	if len(payload) > maxBytes {
		return ShadowUpdate{}, rejection(413, "The payload exceeds the maximum size allowed")
	}
	v, err := decodeJSON(payload)
	if err != nil {
		return ShadowUpdate{}, rejection(400, "Invalid JSON")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return ShadowUpdate{}, rejection(400, "Invalid JSON")
	}
	var u ShadowUpdate
	var rej *ShadowError
	if u.ClientToken, u.Version, rej = parseCommon(m); rej != nil {
		return u, rej
	}
	rawState, ok := m["state"]
	if !ok {
		return u, rejection(400, "Missing required node: state")
	}
	state, ok := rawState.(map[string]any)
	if !ok {
		return u, rejection(400, "State node must be an object")
	}
	for k, sv := range state {
		var s *section
		switch k {
		case "desired":
			s = &u.desired
		case "reported":
			s = &u.reported
		default:
			return u, rejection(400, "State contains an invalid node: '"+k+"'")
		}
		s.present = true
		switch x := sv.(type) {
		case nil:
			s.null = true
		case map[string]any:
			if depth(x) > MaxShadowDepth {
				return u, rejection(400, fmt.Sprintf("JSON contains too many levels of nesting; maximum is %d", MaxShadowDepth))
			}
			s.tree = x
		default:
			return u, rejection(400, "Invalid "+k+" node: must be an object or null")
		}
	}
	if !u.desired.present && !u.reported.present {
		return u, rejection(400, "State node must have a desired or reported node")
	}
	return u, nil
}

// depth is how many object levels m nests (1 for a flat object).
func depth(m map[string]any) int {
	d := 0
	for _, v := range m {
		if sub, ok := v.(map[string]any); ok {
			d = max(d, depth(sub))
		}
	}
	return d + 1
}

// OnlyDesired reports whether u touches desired alone (what apps may send
// over REST).
func (u ShadowUpdate) OnlyDesired() bool { return !u.reported.present }

// applyUpdate merges u into cur (a zero Document when the shadow does not
// exist) at time now. It returns the new stored document and the
// /update/accepted answer. Neither cur nor u is modified.
func applyUpdate(cur Document, u ShadowUpdate, now int64, maxBytes int) (next, accepted Document, rej *ShadowError) {
	next = Document{
		State: StateSections{
			Desired:  cloneTree(cur.State.Desired),
			Reported: cloneTree(cur.State.Reported),
		},
		Metadata: StateSections{
			Desired:  cloneTree(cur.Metadata.Desired),
			Reported: cloneTree(cur.Metadata.Reported),
		},
		Version:   cur.Version + 1,
		Timestamp: now,
	}
	next.State.Desired, next.Metadata.Desired = mergeSection(next.State.Desired, next.Metadata.Desired, u.desired, now)
	next.State.Reported, next.Metadata.Reported = mergeSection(next.State.Reported, next.Metadata.Reported, u.reported, now)
	size, err := json.Marshal(StateSections{Desired: next.State.Desired, Reported: next.State.Reported})
	if err != nil {
		return Document{}, Document{}, rejection(500, "Internal service failure")
	}
	if len(size) > maxBytes {
		return Document{}, Document{}, rejection(413, "The payload exceeds the maximum size allowed")
	}
	accepted = Document{Version: next.Version, Timestamp: now, ClientToken: u.ClientToken}
	if u.desired.present {
		accepted.State.Desired, accepted.Metadata.Desired = echoSection(u.desired, now)
	}
	if u.reported.present {
		accepted.State.Reported, accepted.Metadata.Reported = echoSection(u.reported, now)
	}
	return next, accepted, nil
}

// echoSection is a request section as /update/accepted shows it: the
// request's tree (null leaves included) and a metadata timestamp per leaf.
func echoSection(s section, now int64) (tree, md map[string]any) {
	if s.null {
		return nil, nil
	}
	return s.tree, metadataOf(s.tree, now)
}

// metadataOf mirrors tree with {"timestamp": now} per leaf.
func metadataOf(tree map[string]any, now int64) map[string]any {
	md := make(map[string]any, len(tree))
	for k, v := range tree {
		if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
			md[k] = metadataOf(sub, now)
			continue
		}
		md[k] = leafMeta(now)
	}
	return md
}

func leafMeta(now int64) map[string]any { return map[string]any{"timestamp": now} }

// mergeSection applies one request section to the stored tree and its
// metadata: null deletes the whole section, a null leaf deletes its key,
// objects merge key by key, anything else (scalars, arrays) replaces.
func mergeSection(tree, md map[string]any, s section, now int64) (map[string]any, map[string]any) {
	if !s.present {
		return tree, md
	}
	if s.null {
		return nil, nil
	}
	if tree == nil {
		tree = map[string]any{}
	}
	if md == nil {
		md = map[string]any{}
	}
	mergeTree(tree, md, s.tree, now)
	if len(tree) == 0 {
		return nil, nil
	}
	return tree, md
}

func mergeTree(tree, md, req map[string]any, now int64) {
	for k, v := range req {
		switch x := v.(type) {
		case nil:
			delete(tree, k)
			delete(md, k)
		case map[string]any:
			sub, ok := tree[k].(map[string]any)
			subMD, mdOK := md[k].(map[string]any)
			if !ok {
				sub = map[string]any{}
			}
			if !ok || !mdOK {
				subMD = map[string]any{}
			}
			mergeTree(sub, subMD, x, now)
			if len(sub) == 0 {
				delete(tree, k)
				delete(md, k)
				continue
			}
			tree[k], md[k] = sub, subMD
		default:
			tree[k] = v
			md[k] = leafMeta(now)
		}
	}
}

// cloneTree copies the objects of a tree (leaves are immutable values;
// arrays are replaced whole, never changed in place).
func cloneTree(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			out[k] = cloneTree(sub)
			continue
		}
		out[k] = v
	}
	return out
}

// delta is the desired leaves that differ from reported: per leaf for
// objects, whole for arrays and scalars. It is nil when nothing differs.
func delta(desired, reported map[string]any) map[string]any {
	var out map[string]any
	for k, dv := range desired {
		rv, has := reported[k]
		var d any
		dm, dIsMap := dv.(map[string]any)
		rm, rIsMap := rv.(map[string]any)
		switch {
		case dIsMap && rIsMap:
			if sub := delta(dm, rm); sub != nil {
				d = sub
			}
		case !has || !equalJSON(dv, rv):
			d = dv
		}
		if d == nil {
			continue
		}
		if out == nil {
			out = map[string]any{}
		}
		out[k] = d
	}
	return out
}

// deltaMetadata is the part of the desired metadata the delta covers.
func deltaMetadata(d, md map[string]any) map[string]any {
	if d == nil {
		return nil
	}
	out := make(map[string]any, len(d))
	for k, v := range d {
		sub, isMap := v.(map[string]any)
		subMD, mdIsMap := md[k].(map[string]any)
		if isMap && mdIsMap {
			if _, leaf := subMD["timestamp"]; !leaf || len(subMD) > 1 {
				out[k] = deltaMetadata(sub, subMD)
				continue
			}
		}
		if md[k] != nil {
			out[k] = md[k]
		}
	}
	return out
}

// equalJSON compares two JSON values; numbers compare by value.
func equalJSON(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		fx, err1 := strconv.ParseFloat(string(x), 64)
		fy, err2 := strconv.ParseFloat(string(y), 64)
		return err1 == nil && err2 == nil && fx == fy
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, has := y[k]
			if !has || !equalJSON(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}

// withDelta is d as answered to a get: state.delta filled in.
func withDelta(d Document) Document {
	d.State.Delta = delta(d.State.Desired, d.State.Reported)
	return d
}

// deltaMessage is the /update/delta message of d, or nil when desired
// and reported agree.
func deltaMessage(d Document, token *string) map[string]any {
	dl := delta(d.State.Desired, d.State.Reported)
	if dl == nil {
		return nil
	}
	m := map[string]any{
		"state":     dl,
		"metadata":  deltaMetadata(dl, d.Metadata.Desired),
		"version":   d.Version,
		"timestamp": d.Timestamp,
	}
	if token != nil {
		m["clientToken"] = *token
	}
	return m
}
