package iotbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/skybridgehq/skybridge/store"
)

// maxShadowTries bounds the compare-and-swap retries of one shadow write
// racing others.
const maxShadowTries = 20

// ShadowResult is what an accepted shadow update produced.
type ShadowResult struct {
	// Accepted is the /update/accepted answer: the request's state, its
	// metadata, the new version.
	Accepted Document
	// Current is the whole shadow after the update, with its delta.
	Current Document
	// Previous is the shadow before it; nil when it did not exist.
	Previous *Document
}

// shadowID is the store id of a shadow ("" names the classic one).
func shadowID(device, name string) string { return device + "/" + name }

// storedShadow is one read of a shadow: its document, whether it exists
// (a deleted one keeps its version), and the store version to swap on.
type storedShadow struct {
	doc     Document
	exists  bool
	found   bool // a store document exists (a live or deleted shadow)
	storeV  int64
	deleted bool
}

func readShadow(ctx context.Context, db store.DB, device, name string) (storedShadow, error) {
	d, err := db.Collection(collShadows).Get(ctx, shadowID(device, name))
	if errors.Is(err, store.ErrNotFound) {
		return storedShadow{}, nil
	}
	if err != nil {
		return storedShadow{}, fmt.Errorf("iotbridge: read shadow: %w", err)
	}
	sh := storedShadow{found: true, storeV: store.DocVersion(d)}
	sh.deleted, _ = d["deleted"].(bool)
	raw, _ := d["doc"].(string)
	v, err := decodeJSON([]byte(raw))
	if err != nil {
		return storedShadow{}, fmt.Errorf("iotbridge: stored shadow %s is corrupt: %w", shadowID(device, name), err)
	}
	if err := fillDocument(&sh.doc, v); err != nil {
		return storedShadow{}, fmt.Errorf("iotbridge: stored shadow %s is corrupt: %w", shadowID(device, name), err)
	}
	sh.exists = !sh.deleted
	return sh, nil
}

// fillDocument reads a stored document decoded with json.Number.
func fillDocument(d *Document, v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return errors.New("not an object")
	}
	st, _ := m["state"].(map[string]any)
	md, _ := m["metadata"].(map[string]any)
	d.State.Desired, _ = st["desired"].(map[string]any)
	d.State.Reported, _ = st["reported"].(map[string]any)
	d.Metadata.Desired, _ = md["desired"].(map[string]any)
	d.Metadata.Reported, _ = md["reported"].(map[string]any)
	var err error
	if d.Version, err = number(m["version"]); err != nil {
		return err
	}
	d.Timestamp, err = number(m["timestamp"])
	return err
}

func number(v any) (int64, error) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, errors.New("not a number")
	}
	return n.Int64()
}

// writeShadow stores doc (deleted marks a tombstone) over the read sh.
func writeShadow(ctx context.Context, db store.DB, device, name string, sh storedShadow, doc Document, deleted bool) error {
	doc.ClientToken = nil
	doc.State.Delta, doc.Metadata.Delta = nil, nil
	raw, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("iotbridge: encode shadow: %w", err)
	}
	d := store.Doc{"device": device, "name": name, "doc": string(raw), "version": doc.Version, "deleted": deleted}
	coll := db.Collection(collShadows)
	if !sh.found {
		d[store.FieldID] = shadowID(device, name)
		_, err = coll.Insert(ctx, d)
	} else {
		_, err = coll.Replace(ctx, shadowID(device, name), sh.storeV, d)
	}
	return err
}

// lost reports whether a shadow write lost a race and should retry.
func lost(err error) bool {
	return errors.Is(err, store.ErrVersionConflict) || errors.Is(err, store.ErrDuplicate) || errors.Is(err, store.ErrNotFound)
}

// updateShadow applies u to shadow name of device in db, retrying on
// concurrent writes; it publishes nothing.
func (s *Service) updateShadow(ctx context.Context, db store.DB, device, name string, u ShadowUpdate) (ShadowResult, error) {
	for range maxShadowTries {
		sh, err := readShadow(ctx, db, device, name)
		if err != nil {
			return ShadowResult{}, err
		}
		cur := sh.doc
		if !sh.exists {
			cur = Document{Version: sh.doc.Version}
		}
		if u.Version != nil && *u.Version != cur.Version {
			return ShadowResult{}, rejection(409, "Version conflict")
		}
		next, accepted, rej := applyUpdate(cur, u, s.now().Unix(), s.cfg.ShadowMaxBytes)
		if rej != nil {
			return ShadowResult{}, rej
		}
		if err := writeShadow(ctx, db, device, name, sh, next, false); err != nil {
			if lost(err) {
				continue
			}
			return ShadowResult{}, fmt.Errorf("iotbridge: store shadow: %w", err)
		}
		res := ShadowResult{Accepted: accepted, Current: withDelta(next)}
		if sh.exists {
			prev := withDelta(cur)
			res.Previous = &prev
		}
		return res, nil
	}
	return ShadowResult{}, fmt.Errorf("%w: shadow %s kept changing concurrently; retry", ErrVersionConflict, shadowID(device, name))
}

// getShadow reads a live shadow, with its delta, or a 404 rejection.
func getShadow(ctx context.Context, db store.DB, device, name string) (Document, error) {
	sh, err := readShadow(ctx, db, device, name)
	if err != nil {
		return Document{}, err
	}
	if !sh.exists {
		return Document{}, rejection(404, "No shadow exists with name: '"+shadowLabel(device, name)+"'")
	}
	return withDelta(sh.doc), nil
}

// shadowLabel is how AWS names a shadow in its 404 message.
func shadowLabel(device, name string) string {
	if name == "" {
		return device
	}
	return device + "~" + name
}

// deleteShadow resets a shadow: its state goes, its version stays (the
// next update continues from it). It returns the deleted version.
func (s *Service) deleteShadow(ctx context.Context, db store.DB, device, name string, version *int64) (int64, error) {
	for range maxShadowTries {
		sh, err := readShadow(ctx, db, device, name)
		if err != nil {
			return 0, err
		}
		if !sh.exists {
			return 0, rejection(404, "No shadow exists with name: '"+shadowLabel(device, name)+"'")
		}
		if version != nil && *version != sh.doc.Version {
			return 0, rejection(409, "Version conflict")
		}
		tomb := Document{Version: sh.doc.Version, Timestamp: s.now().Unix()}
		if err := writeShadow(ctx, db, device, name, sh, tomb, true); err != nil {
			if lost(err) {
				continue
			}
			return 0, fmt.Errorf("iotbridge: delete shadow: %w", err)
		}
		return sh.doc.Version, nil
	}
	return 0, fmt.Errorf("%w: shadow %s kept changing concurrently; retry", ErrVersionConflict, shadowID(device, name))
}

// marshal encodes a document for MQTT; documents hold only JSON values.
func marshal(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("iotbridge: marshal: " + err.Error())
	}
	return b
}

// publishUpdate sends the MQTT messages of an accepted update:
// /update/accepted, /update/documents and, when desired changed and
// differs from reported, /update/delta.
func (s *Service) publishUpdate(device, name string, u ShadowUpdate, res ShadowResult) {
	base := shadowBase(device, name)
	s.publish(base+"/update/accepted", marshal(res.Accepted), 0)
	docs := map[string]any{"current": docView(res.Current), "timestamp": res.Current.Timestamp}
	if res.Previous != nil {
		docs["previous"] = docView(*res.Previous)
	}
	if u.ClientToken != nil {
		docs["clientToken"] = *u.ClientToken
	}
	s.publish(base+"/update/documents", marshal(docs), 0)
	if u.desired.present {
		if dm := deltaMessage(res.Current, u.ClientToken); dm != nil {
			s.publish(base+"/update/delta", marshal(dm), 1)
		}
	}
}

// docView is a document as /update/documents shows it: state (desired,
// reported), metadata and version.
func docView(d Document) map[string]any {
	return map[string]any{
		"state":    StateSections{Desired: d.State.Desired, Reported: d.State.Reported},
		"metadata": StateSections{Desired: d.Metadata.Desired, Reported: d.Metadata.Reported},
		"version":  d.Version,
	}
}

// UpdateShadow applies a desired-state update from the API to shadow name
// ("" for the classic shadow) of device id: c needs write access. The
// device gets /update/accepted, /documents and /delta as if the update
// came over MQTT. ifVersion, when non-nil, must be the current version.
func (s *Service) UpdateShadow(ctx context.Context, env Env, c Caller, id, name string, payload []byte, ifVersion *int64) (Document, error) {
	if name != "" && !ValidShadowName(name) {
		return Document{}, invalid("name", "%q is not a shadow name (1 to 64 letters, digits, ':', '_' or '-')", name)
	}
	db, _, err := s.loadDevice(ctx, env, c, id, true)
	if err != nil {
		return Document{}, err
	}
	u, rej := ParseShadowUpdate(payload, s.cfg.ShadowMaxBytes)
	if rej != nil {
		return Document{}, &fieldError{Field: "state", Err: rej}
	}
	if !u.OnlyDesired() {
		return Document{}, invalid("state.reported", "only the device reports its state; apps set state.desired")
	}
	if ifVersion != nil {
		if u.Version != nil && *u.Version != *ifVersion {
			return Document{}, invalid("version", "differs from If-Match")
		}
		u.Version = ifVersion
	}
	res, err := s.updateShadow(ctx, db, id, name, u)
	if err != nil {
		return Document{}, err
	}
	s.publishUpdate(id, name, u, res)
	cur := res.Current
	s.emit(ctx, Event{Type: EventShadow, Env: env, DeviceID: id, Shadow: name, Document: &cur})
	return res.Current, nil
}

// GetShadow returns shadow name ("" for the classic one) of device id,
// with its delta; c needs read access.
func (s *Service) GetShadow(ctx context.Context, env Env, c Caller, id, name string) (Document, error) {
	if name != "" && !ValidShadowName(name) {
		return Document{}, invalid("name", "%q is not a shadow name", name)
	}
	db, _, err := s.loadDevice(ctx, env, c, id, false)
	if err != nil {
		return Document{}, err
	}
	return getShadow(ctx, db, id, name)
}
