package iotbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Limits of the device registry.
const (
	MaxDeviceNameLen  = 200
	MaxDeviceTypeLen  = 100
	MaxAttributes     = 50
	MaxACLEntries     = 100
	MaxListLimit      = 1000
	DefaultListLimit  = 100
	maxAttributeBytes = 4096
)

// Device is a registered device as the API shows it; its secret is never
// part of it.
type Device struct {
	ID         string         `json:"id"`
	Name       string         `json:"name,omitempty"`
	Type       string         `json:"type,omitempty"`
	Attributes map[string]any `json:"attributes,omitempty"`
	// Owner is the user who owns the device ("" when none).
	Owner string `json:"_owner,omitempty"`
	// ACL grants users and roles read (shadow) and write (desired state,
	// commands) access, as object ACLs do.
	ACL map[string]any `json:"_acl,omitempty"`
	// Disabled devices cannot connect.
	Disabled bool `json:"disabled"`
	// Online tells whether the device holds a live MQTT connection to
	// this node's broker; Connections counts them.
	Online      bool `json:"online"`
	Connections int  `json:"connections"`
	// LastSeenAt is the last time the device connected or disconnected
	// (now while it is online).
	LastSeenAt         *time.Time `json:"lastSeenAt,omitempty"`
	LastConnectedAt    *time.Time `json:"lastConnectedAt,omitempty"`
	LastDisconnectedAt *time.Time `json:"lastDisconnectedAt,omitempty"`
	CreatedAt          string     `json:"createdAt"`
	UpdatedAt          string     `json:"updatedAt"`
	// Version is the registry document's version (the ETag).
	Version int64 `json:"version"`
}

// DeviceInput is a device to register.
type DeviceInput struct {
	// ID must match [A-Za-z0-9_-]{1,128} and be free across the server.
	ID         string
	Name       string
	Type       string
	Attributes map[string]any
	// Owner is the owning user's id.
	Owner string
	ACL   map[string]any
}

// DevicePatch changes a device; nil fields stay as they are.
type DevicePatch struct {
	Name       *string
	Type       *string
	Attributes map[string]any // replaces the attributes when non-nil
	Owner      *string
	ACL        map[string]any // replaces the ACL when non-nil
	Disabled   *bool
}

// ListQuery selects devices.
type ListQuery struct {
	// Type, Owner select by equality when set; Disabled when non-nil.
	Type, Owner string
	Disabled    *bool
	// Limit caps the page: default 100, at most 1000.
	Limit int
	// Cursor continues a previous page.
	Cursor string
}

// fieldError names the request field at fault.
type fieldError struct {
	Field string
	Err   error
}

func (e *fieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *fieldError) Unwrap() error { return e.Err }

// FieldOf returns the request field an error names ("" for none).
func FieldOf(err error) string {
	var fe *fieldError
	if errors.As(err, &fe) {
		return fe.Field
	}
	return ""
}

func invalid(field, format string, args ...any) error {
	return &fieldError{Field: field, Err: fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))}
}

func checkDeviceFields(name, typ string, attrs map[string]any, acl map[string]any) error {
	if len(name) > MaxDeviceNameLen {
		return invalid("name", "at most %d bytes", MaxDeviceNameLen)
	}
	if len(typ) > MaxDeviceTypeLen {
		return invalid("type", "at most %d bytes", MaxDeviceTypeLen)
	}
	if len(attrs) > MaxAttributes {
		return invalid("attributes", "at most %d attributes", MaxAttributes)
	}
	for k, v := range attrs {
		if k == "" || len(k) > 128 {
			return invalid("attributes", "keys must have 1 to 128 bytes")
		}
		switch x := v.(type) {
		case string:
			if len(x) > maxAttributeBytes {
				return invalid("attributes."+k, "at most %d bytes", maxAttributeBytes)
			}
		case bool, float64, int64, int, json.Number, nil:
		default:
			return invalid("attributes."+k, "must be a string, number, boolean or null")
		}
	}
	return checkACL(acl)
}

// checkACL accepts {"read": [...], "write": [...]} of user ids,
// "role:<name>" and "*".
func checkACL(acl map[string]any) error {
	for k, v := range acl {
		if k != "read" && k != "write" {
			return invalid("_acl."+k, "unknown ACL list (want read or write)")
		}
		list, ok := v.([]any)
		if !ok {
			if v == nil {
				continue
			}
			return invalid("_acl."+k, "must be an array of user ids and role:<name>")
		}
		if len(list) > MaxACLEntries {
			return invalid("_acl."+k, "more than %d entries", MaxACLEntries)
		}
		for i, e := range list {
			if s, ok := e.(string); !ok || s == "" || len(s) > 200 {
				return invalid(fmt.Sprintf("_acl.%s[%d]", k, i), "want \"*\", a user id or role:<name>")
			}
		}
	}
	return nil
}

// Register creates a device in env and returns it with its secret, shown
// this once. Only the server key may register devices.
func (s *Service) Register(ctx context.Context, env Env, c Caller, in DeviceInput) (Device, string, error) {
	if !c.Server {
		return Device{}, "", fmt.Errorf("%w: only the server key registers devices", ErrForbidden)
	}
	if !ValidDeviceID(in.ID) {
		return Device{}, "", invalid("id", "%q is not a device id (1 to 128 letters, digits, '_' or '-')", in.ID)
	}
	if err := checkDeviceFields(in.Name, in.Type, in.Attributes, in.ACL); err != nil {
		return Device{}, "", err
	}
	db, err := s.envDB(ctx, env)
	if err != nil {
		return Device{}, "", err
	}
	idx := s.sys.Collection(collIndex)
	if _, err := idx.Insert(ctx, store.Doc{store.FieldID: in.ID, "appId": env.AppID, "env": env.Name, "db": env.DB}); err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			return Device{}, "", &fieldError{Field: "id", Err: fmt.Errorf("%w: %q", ErrExists, in.ID)}
		}
		return Device{}, "", fmt.Errorf("iotbridge: index device: %w", err)
	}
	secret := newSecret()
	doc := store.Doc{
		store.FieldID: in.ID,
		"secretHash":  s.hashSecret(in.ID, secret),
		"disabled":    false,
	}
	setOptional(doc, "name", in.Name)
	setOptional(doc, "type", in.Type)
	setOptional(doc, store.FieldOwner, in.Owner)
	if len(in.Attributes) > 0 {
		doc["attributes"] = in.Attributes
	}
	if len(in.ACL) > 0 {
		doc[store.FieldACL] = in.ACL
	}
	stored, err := db.Collection(collDevices).Insert(ctx, doc)
	if err != nil {
		// Leave nothing half written: the id goes back to the pool.
		if derr := idx.Delete(context.WithoutCancel(ctx), in.ID, 0); derr != nil {
			s.log.Error("release device id after a failed registration", "device", in.ID, "err", derr)
		}
		if errors.Is(err, store.ErrDuplicate) {
			return Device{}, "", &fieldError{Field: "id", Err: fmt.Errorf("%w: %q", ErrExists, in.ID)}
		}
		return Device{}, "", fmt.Errorf("iotbridge: store device: %w", err)
	}
	s.forget(in.ID)
	return s.deviceOf(stored), secret, nil
}

func setOptional(doc store.Doc, k, v string) {
	if v != "" {
		doc[k] = v
	}
}

// deviceOf turns a stored device into what the API shows.
func (s *Service) deviceOf(d store.Doc) Device {
	dev := Device{
		ID:        store.DocID(d),
		Name:      str(d["name"]),
		Type:      str(d["type"]),
		Owner:     str(d[store.FieldOwner]),
		CreatedAt: str(d[store.FieldCreatedAt]),
		UpdatedAt: str(d[store.FieldUpdatedAt]),
		Version:   store.DocVersion(d),
	}
	dev.Attributes, _ = d["attributes"].(map[string]any)
	dev.ACL, _ = d[store.FieldACL].(map[string]any)
	dev.Disabled, _ = d["disabled"].(bool)
	dev.LastConnectedAt = timeField(d, "lastConnectedAt")
	dev.LastDisconnectedAt = timeField(d, "lastDisconnectedAt")
	dev.LastSeenAt = latest(dev.LastConnectedAt, dev.LastDisconnectedAt)
	dev.Connections = s.Online(dev.ID)
	if dev.Online = dev.Connections > 0; dev.Online {
		now := s.now()
		dev.LastSeenAt = &now
	}
	return dev
}

func timeField(d store.Doc, k string) *time.Time {
	t, err := time.Parse(time.RFC3339Nano, str(d[k]))
	if err != nil {
		return nil
	}
	return &t
}

func latest(a, b *time.Time) *time.Time {
	switch {
	case a == nil:
		return b
	case b == nil || a.After(*b):
		return a
	}
	return b
}

// mayAccess reports whether c may read (write false) or write a device:
// the server key always, a user when he owns it or its _acl names him,
// one of his roles, or "*".
func mayAccess(c Caller, d store.Doc, write bool) bool {
	if c.Server {
		return true
	}
	if c.UserID == "" {
		return false
	}
	if str(d[store.FieldOwner]) == c.UserID {
		return true
	}
	acl, _ := d[store.FieldACL].(map[string]any)
	list := "read"
	if write {
		list = "write"
	}
	entries, _ := acl[list].([]any)
	for _, e := range entries {
		switch e {
		case "*", c.UserID:
			return true
		}
		if s, ok := e.(string); ok && len(s) > 5 && s[:5] == "role:" && slices.Contains(c.Roles, s[5:]) {
			return true
		}
	}
	return false
}

// loadDevice reads device id of env for c; a device c may not read is
// ErrNotFound, so that its existence never leaks. write asks for write
// access, refused with ErrForbidden when c may only read.
func (s *Service) loadDevice(ctx context.Context, env Env, c Caller, id string, write bool) (store.DB, store.Doc, error) {
	if !c.Server && c.UserID == "" {
		return nil, nil, fmt.Errorf("%w: devices are reached with the server key or a user's access token", ErrForbidden)
	}
	if !ValidDeviceID(id) {
		return nil, nil, fmt.Errorf("device %q: %w", id, ErrNotFound)
	}
	db, err := s.envDB(ctx, env)
	if err != nil {
		return nil, nil, err
	}
	d, err := db.Collection(collDevices).Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && !mayAccess(c, d, false)) {
		return nil, nil, fmt.Errorf("device %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("iotbridge: read device: %w", err)
	}
	if write && !mayAccess(c, d, true) {
		return nil, nil, fmt.Errorf("%w: no write access to device %q", ErrForbidden, id)
	}
	return db, d, nil
}

// Get returns device id of env, if c may read it.
func (s *Service) Get(ctx context.Context, env Env, c Caller, id string) (Device, error) {
	_, d, err := s.loadDevice(ctx, env, c, id, false)
	if err != nil {
		return Device{}, err
	}
	return s.deviceOf(d), nil
}

// List returns the devices of env that c may read, by id, and the cursor
// of the next page ("" on the last).
func (s *Service) List(ctx context.Context, env Env, c Caller, q ListQuery) ([]Device, string, error) {
	if !c.Server && c.UserID == "" {
		return nil, "", fmt.Errorf("%w: devices are reached with the server key or a user's access token", ErrForbidden)
	}
	if q.Limit < 0 || q.Limit > MaxListLimit {
		return nil, "", invalid("limit", "must be 1 to %d", MaxListLimit)
	}
	if q.Limit == 0 {
		q.Limit = DefaultListLimit
	}
	var and []store.Filter
	if q.Type != "" {
		and = append(and, store.Compare{Path: "type", Op: store.OpEq, Value: q.Type})
	}
	if q.Owner != "" {
		and = append(and, store.Compare{Path: store.FieldOwner, Op: store.OpEq, Value: q.Owner})
	}
	if q.Disabled != nil {
		and = append(and, store.Compare{Path: "disabled", Op: store.OpEq, Value: *q.Disabled})
	}
	if !c.Server {
		grants := []any{"*", c.UserID}
		for _, r := range c.Roles {
			grants = append(grants, "role:"+r)
		}
		and = append(and, store.Or{Filters: []store.Filter{
			store.Compare{Path: store.FieldOwner, Op: store.OpEq, Value: c.UserID},
			store.In{Path: store.FieldACL + ".read", Values: grants},
		}})
	}
	db, err := s.envDB(ctx, env)
	if err != nil {
		return nil, "", err
	}
	page, err := db.Collection(collDevices).Find(ctx, store.Query{Filter: store.And{Filters: and}, Limit: q.Limit, Cursor: q.Cursor})
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			return nil, "", invalid("cursor", "not a cursor of this list")
		}
		return nil, "", fmt.Errorf("iotbridge: list devices: %w", err)
	}
	out := make([]Device, 0, len(page.Docs))
	for _, d := range page.Docs {
		out = append(out, s.deviceOf(d))
	}
	return out, page.Cursor, nil
}

// Update changes device id; only the server key may. version, when not
// 0, must be the device's current version. Disabling a device drops its
// connections at once.
func (s *Service) Update(ctx context.Context, env Env, c Caller, id string, version int64, p DevicePatch) (Device, error) {
	if !c.Server {
		return Device{}, fmt.Errorf("%w: only the server key changes devices", ErrForbidden)
	}
	name, typ := "", ""
	if p.Name != nil {
		name = *p.Name
	}
	if p.Type != nil {
		typ = *p.Type
	}
	if err := checkDeviceFields(name, typ, p.Attributes, p.ACL); err != nil {
		return Device{}, err
	}
	set := map[string]any{}
	if p.Name != nil {
		set["name"] = *p.Name
	}
	if p.Type != nil {
		set["type"] = *p.Type
	}
	if p.Attributes != nil {
		set["attributes"] = p.Attributes
	}
	if p.Owner != nil {
		set[store.FieldOwner] = *p.Owner
	}
	if p.ACL != nil {
		set[store.FieldACL] = p.ACL
	}
	if p.Disabled != nil {
		set["disabled"] = *p.Disabled
	}
	var stored store.Doc
	for try := 0; ; try++ {
		db, d, err := s.loadDevice(ctx, env, c, id, true)
		if err != nil {
			return Device{}, err
		}
		if version != 0 && version != store.DocVersion(d) {
			return Device{}, fmt.Errorf("%w: device %q is at version %d", ErrVersionConflict, id, store.DocVersion(d))
		}
		next := store.Doc{}
		for k, v := range d {
			next[k] = v
		}
		for k, v := range set {
			next[k] = v
		}
		stored, err = db.Collection(collDevices).Replace(ctx, id, store.DocVersion(d), next)
		if err == nil {
			break
		}
		// Connection bookkeeping writes the device too; without If-Match
		// a lost race is retried.
		if errors.Is(err, store.ErrVersionConflict) && version == 0 && try < maxShadowTries {
			continue
		}
		if errors.Is(err, store.ErrVersionConflict) {
			return Device{}, fmt.Errorf("%w: device %q changed meanwhile; retry", ErrVersionConflict, id)
		}
		return Device{}, fmt.Errorf("iotbridge: update device: %w", err)
	}
	if p.Disabled != nil && *p.Disabled {
		s.disconnect(id)
	}
	return s.deviceOf(stored), nil
}

// RotateSecret gives device id a new secret, returned this once, and
// drops its connections: the old secret stops working at once.
func (s *Service) RotateSecret(ctx context.Context, env Env, c Caller, id string) (string, error) {
	if !c.Server {
		return "", fmt.Errorf("%w: only the server key rotates device secrets", ErrForbidden)
	}
	db, _, err := s.loadDevice(ctx, env, c, id, true)
	if err != nil {
		return "", err
	}
	secret := newSecret()
	if _, err := db.Collection(collDevices).Update(ctx, id, 0, store.Update{Set: map[string]any{"secretHash": s.hashSecret(id, secret)}}); err != nil {
		return "", fmt.Errorf("iotbridge: rotate device secret: %w", err)
	}
	s.disconnect(id)
	return secret, nil
}

// Delete removes device id, its shadows, commands and telemetry, and
// frees its id; its connections are dropped.
func (s *Service) Delete(ctx context.Context, env Env, c Caller, id string) error {
	if !c.Server {
		return fmt.Errorf("%w: only the server key deletes devices", ErrForbidden)
	}
	db, _, err := s.loadDevice(ctx, env, c, id, true)
	if err != nil {
		return err
	}
	if err := db.Collection(collDevices).Delete(ctx, id, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("iotbridge: delete device: %w", err)
	}
	s.disconnect(id)
	byDevice := store.Compare{Path: "device", Op: store.OpEq, Value: id}
	for _, coll := range []string{collShadows, collCommands} {
		if _, err := store.DeleteMatching(ctx, db.Collection(coll), store.Query{Filter: byDevice}); err != nil {
			return fmt.Errorf("iotbridge: delete device %s: %w", coll, err)
		}
	}
	if err := s.sys.Collection(collIndex).Delete(ctx, id, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("iotbridge: free device id: %w", err)
	}
	s.forget(id)
	// Its telemetry too, once what is queued is written (new messages
	// of the id are dropped now: it is not in the index any more), so
	// that a device registered again under the id starts empty.
	s.tel.flush()
	if _, err := store.DeleteMatching(ctx, db.Collection(collTelemetry), store.Query{Filter: byDevice, Limit: store.MaxLimit}); err != nil {
		return fmt.Errorf("iotbridge: delete device telemetry: %w", err)
	}
	return nil
}

// disconnect drops device id's connections.
func (s *Service) disconnect(id string) {
	if s.broker != nil {
		s.broker.Disconnect(id)
	}
}
