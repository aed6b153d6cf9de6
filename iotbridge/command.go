package iotbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// CommandStatus is where a command is: queued → delivered → succeeded |
// failed | expired (a queued command may expire too).
type CommandStatus string

// Command statuses.
const (
	CommandQueued    CommandStatus = "queued"
	CommandDelivered CommandStatus = "delivered"
	CommandSucceeded CommandStatus = "succeeded"
	CommandFailed    CommandStatus = "failed"
	CommandExpired   CommandStatus = "expired"
)

// Limits of commands.
const (
	MaxCommandNameLen      = 128
	MaxCommandPayloadBytes = 64 << 10
	MaxCommandResultBytes  = 64 << 10
)

// finished reports whether st is a final status.
func (st CommandStatus) finished() bool {
	return st == CommandSucceeded || st == CommandFailed || st == CommandExpired
}

// Command is a command to a device, as the API shows it.
type Command struct {
	ID          string          `json:"id"`
	Device      string          `json:"device"`
	Name        string          `json:"name"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	Status      CommandStatus   `json:"status"`
	Result      json.RawMessage `json:"result,omitempty"`
	CreatedAt   time.Time       `json:"createdAt"`
	ExpiresAt   time.Time       `json:"expiresAt"`
	DeliveredAt *time.Time      `json:"deliveredAt,omitempty"`
	FinishedAt  *time.Time      `json:"finishedAt,omitempty"`
}

// CommandInput is a command to send.
type CommandInput struct {
	Name string
	// Payload is any JSON value (nil for none).
	Payload json.RawMessage
	// Timeout is how long the command waits for its reply; 0 means
	// Config.CommandTimeout.
	Timeout time.Duration
}

var (
	commandIDRe   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	commandNameRe = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)
)

func validCommandID(id string) bool { return commandIDRe.MatchString(id) }

// commandMessage is what the device receives on its commands topic.
type commandMessage struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Payload   json.RawMessage `json:"payload,omitempty"`
	ExpiresAt time.Time       `json:"expiresAt"`
}

// CommandReply is what a device answers on .../commands/<id>/reply.
type CommandReply struct {
	Status CommandStatus   `json:"status"`
	Result json.RawMessage `json:"result,omitempty"`
}

// ParseCommandReply reads a reply payload: {status: succeeded|failed,
// result?}.
func ParseCommandReply(payload []byte) (CommandReply, error) {
	var r CommandReply
	if len(payload) > MaxCommandResultBytes+1024 {
		return r, fmt.Errorf("%w: reply larger than %d bytes", ErrInvalid, MaxCommandResultBytes)
	}
	if err := json.Unmarshal(payload, &r); err != nil {
		return r, fmt.Errorf("%w: reply is not {status, result}: %v", ErrInvalid, err)
	}
	if r.Status != CommandSucceeded && r.Status != CommandFailed {
		return r, fmt.Errorf("%w: reply status must be succeeded or failed", ErrInvalid)
	}
	if string(r.Result) == "null" {
		r.Result = nil
	}
	return r, nil
}

func commandOf(d store.Doc) Command {
	c := Command{
		ID:          store.DocID(d),
		Device:      str(d["device"]),
		Name:        str(d["name"]),
		Status:      CommandStatus(str(d["status"])),
		DeliveredAt: timeField(d, "deliveredAt"),
		FinishedAt:  timeField(d, "finishedAt"),
	}
	if p := str(d["payload"]); p != "" {
		c.Payload = json.RawMessage(p)
	}
	if r := str(d["result"]); r != "" {
		c.Result = json.RawMessage(r)
	}
	if t := timeField(d, "createdAt"); t != nil {
		c.CreatedAt = *t
	}
	if t := timeField(d, "expiresAt"); t != nil {
		c.ExpiresAt = *t
	}
	return c
}

func fmtTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// SendCommand queues a command for device id (c needs write access) and
// delivers it at once when the device is subscribed to its commands
// topic; otherwise it goes out when the device subscribes. The returned
// command is the queued one.
func (s *Service) SendCommand(ctx context.Context, env Env, c Caller, id string, in CommandInput) (Command, error) {
	if in.Name == "" || len(in.Name) > MaxCommandNameLen || !commandNameRe.MatchString(in.Name) {
		return Command{}, invalid("name", "1 to %d letters, digits, '_', '.', ':' or '-'", MaxCommandNameLen)
	}
	if len(in.Payload) > MaxCommandPayloadBytes {
		return Command{}, invalid("payload", "at most %d bytes", MaxCommandPayloadBytes)
	}
	if in.Timeout < 0 || in.Timeout > s.cfg.MaxCommandTimeout {
		return Command{}, invalid("timeoutSec", "must be 1 to %d", int(s.cfg.MaxCommandTimeout/time.Second))
	}
	if in.Timeout == 0 {
		in.Timeout = s.cfg.CommandTimeout
	}
	db, _, err := s.loadDevice(ctx, env, c, id, true)
	if err != nil {
		return Command{}, err
	}
	now := s.now()
	doc := store.Doc{
		store.FieldID: store.NewID(),
		"device":      id,
		"name":        in.Name,
		"status":      string(CommandQueued),
		"createdAt":   fmtTime(now),
		"expiresAt":   fmtTime(now.Add(in.Timeout)),
	}
	if len(in.Payload) > 0 && string(in.Payload) != "null" {
		doc["payload"] = string(in.Payload)
	}
	stored, err := db.Collection(collCommands).Insert(ctx, doc)
	if err != nil {
		return Command{}, fmt.Errorf("iotbridge: store command: %w", err)
	}
	cmd := commandOf(stored)
	s.emit(ctx, Event{Type: EventCommand, Env: env, DeviceID: id, Command: &cmd})
	// On an external broker (Server nil) nobody can tell who subscribes:
	// the command goes out at once, once, from this node, and the broker
	// queues it for a device with a persistent session (decision 0014).
	if s.blindTransport() || s.subscribed(commandsTopic(id)) {
		if _, err := s.deliver(ctx, env, db, stored); err != nil {
			s.log.Warn("deliver command", "device", id, "command", cmd.ID, "err", err)
		}
	}
	s.after(in.Timeout+time.Millisecond, func(ctx context.Context) { s.expireCommand(ctx, env, id, cmd.ID) })
	return cmd, nil
}

// blindTransport reports whether the transport is an external broker,
// which cannot say who subscribes.
func (s *Service) blindTransport() bool { return s.broker != nil && s.broker.Server() == nil }

// subscribed reports whether a live connection subscribes to topic.
func (s *Service) subscribed(topic string) bool {
	if s.broker == nil || s.broker.Server() == nil {
		return false
	}
	srv := s.broker.Server()
	subs := srv.Topics.Subscribers(topic)
	for clientID := range subs.Subscriptions {
		if cl, ok := srv.Clients.Get(clientID); ok && !cl.Closed() {
			return true
		}
	}
	return false
}

// transition moves command cmdID from one of from to next (with extra
// fields) by compare-and-swap; ok is false when its status is not in
// from (someone else moved it).
func (s *Service) transition(ctx context.Context, db store.DB, d store.Doc, next CommandStatus, set map[string]any, from ...CommandStatus) (store.Doc, bool, error) {
	coll := db.Collection(collCommands)
	for range maxShadowTries {
		st := CommandStatus(str(d["status"]))
		allowed := false
		for _, f := range from {
			allowed = allowed || st == f
		}
		if !allowed {
			return d, false, nil
		}
		u := map[string]any{"status": string(next)}
		for k, v := range set {
			u[k] = v
		}
		out, err := coll.Update(ctx, store.DocID(d), store.DocVersion(d), store.Update{Set: u})
		if err == nil {
			return out, true, nil
		}
		if !errors.Is(err, store.ErrVersionConflict) {
			return d, false, fmt.Errorf("iotbridge: update command: %w", err)
		}
		if d, err = coll.Get(ctx, store.DocID(d)); err != nil {
			return d, false, fmt.Errorf("iotbridge: read command: %w", err)
		}
	}
	return d, false, fmt.Errorf("%w: command kept changing concurrently", ErrVersionConflict)
}

// deliver marks a queued command delivered and publishes it at QoS 1; an
// expired one is marked expired instead. ok reports a delivery.
func (s *Service) deliver(ctx context.Context, env Env, db store.DB, d store.Doc) (bool, error) {
	cmd := commandOf(d)
	now := s.now()
	if !now.Before(cmd.ExpiresAt) {
		s.expireDoc(ctx, env, db, d)
		return false, nil
	}
	out, ok, err := s.transition(ctx, db, d, CommandDelivered, map[string]any{"deliveredAt": fmtTime(now)}, CommandQueued)
	if err != nil || !ok {
		return false, err
	}
	s.publish(commandsTopic(cmd.Device), marshal(commandMessage{ID: cmd.ID, Name: cmd.Name, Payload: cmd.Payload, ExpiresAt: cmd.ExpiresAt}), 1)
	delivered := commandOf(out)
	s.emit(ctx, Event{Type: EventCommand, Env: env, DeviceID: cmd.Device, Command: &delivered})
	return true, nil
}

// deliverQueued sends device id every queued command that has not
// expired, oldest first (after it subscribed to its commands topic).
func (s *Service) deliverQueued(ctx context.Context, env Env, id string) {
	db, err := s.envDB(ctx, env)
	if err != nil {
		s.log.Warn("deliver queued commands", "device", id, "err", err)
		return
	}
	page, err := db.Collection(collCommands).Find(ctx, store.Query{
		Filter: store.And{Filters: []store.Filter{
			store.Compare{Path: "device", Op: store.OpEq, Value: id},
			store.Compare{Path: "status", Op: store.OpEq, Value: string(CommandQueued)},
		}},
		Sort:  []store.SortKey{{Path: "createdAt"}},
		Limit: store.MaxLimit,
	})
	if err != nil {
		s.log.Warn("deliver queued commands", "device", id, "err", err)
		return
	}
	for _, d := range page.Docs {
		if _, err := s.deliver(ctx, env, db, d); err != nil {
			s.log.Warn("deliver command", "device", id, "command", store.DocID(d), "err", err)
		}
	}
}

// expireCommand marks command cmdID expired when it is still open.
func (s *Service) expireCommand(ctx context.Context, env Env, device, cmdID string) {
	db, err := s.envDB(ctx, env)
	if err != nil {
		return
	}
	d, err := db.Collection(collCommands).Get(ctx, cmdID)
	if err != nil {
		return
	}
	if !s.now().Before(commandOf(d).ExpiresAt) {
		s.expireDoc(ctx, env, db, d)
	}
}

// expireDoc moves an open command to expired.
func (s *Service) expireDoc(ctx context.Context, env Env, db store.DB, d store.Doc) store.Doc {
	out, ok, err := s.transition(ctx, db, d, CommandExpired, map[string]any{"finishedAt": fmtTime(s.now())}, CommandQueued, CommandDelivered)
	if err != nil {
		s.log.Warn("expire command", "command", store.DocID(d), "err", err)
		return d
	}
	if ok {
		cmd := commandOf(out)
		s.emit(ctx, Event{Type: EventCommand, Env: env, DeviceID: cmd.Device, Command: &cmd})
	}
	return out
}

// reply records a device's reply to one of its commands.
func (s *Service) reply(ctx context.Context, env Env, device, cmdID string, r CommandReply) error {
	db, err := s.envDB(ctx, env)
	if err != nil {
		return err
	}
	d, err := db.Collection(collCommands).Get(ctx, cmdID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && str(d["device"]) != device) {
		return fmt.Errorf("command %q: %w", cmdID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("iotbridge: read command: %w", err)
	}
	if !s.now().Before(commandOf(d).ExpiresAt) {
		s.expireDoc(ctx, env, db, d)
		return fmt.Errorf("%w: command %q expired", ErrFinished, cmdID)
	}
	set := map[string]any{"finishedAt": fmtTime(s.now())}
	if len(r.Result) > 0 {
		set["result"] = string(r.Result)
	}
	out, ok, err := s.transition(ctx, db, d, r.Status, set, CommandQueued, CommandDelivered)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: command %q is %s", ErrFinished, cmdID, str(out["status"]))
	}
	cmd := commandOf(out)
	s.emit(ctx, Event{Type: EventCommand, Env: env, DeviceID: device, Command: &cmd, ByDevice: true, Topic: commandsTopic(device) + "/" + cmdID + "/reply"})
	return nil
}

// GetCommand returns command cmdID of device id; c needs read access.
// An open command past its expiry reads as expired.
func (s *Service) GetCommand(ctx context.Context, env Env, c Caller, id, cmdID string) (Command, error) {
	db, _, err := s.loadDevice(ctx, env, c, id, false)
	if err != nil {
		return Command{}, err
	}
	if !validCommandID(cmdID) {
		return Command{}, fmt.Errorf("command %q: %w", cmdID, ErrNotFound)
	}
	d, err := db.Collection(collCommands).Get(ctx, cmdID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && str(d["device"]) != id) {
		return Command{}, fmt.Errorf("command %q: %w", cmdID, ErrNotFound)
	}
	if err != nil {
		return Command{}, fmt.Errorf("iotbridge: read command: %w", err)
	}
	return s.current(ctx, env, db, d), nil
}

// current is d with an overdue open command expired.
func (s *Service) current(ctx context.Context, env Env, db store.DB, d store.Doc) Command {
	cmd := commandOf(d)
	if !cmd.Status.finished() && !s.now().Before(cmd.ExpiresAt) {
		return commandOf(s.expireDoc(ctx, env, db, d))
	}
	return cmd
}

// CommandQuery selects commands of a device.
type CommandQuery struct {
	// Status selects by status when set.
	Status CommandStatus
	Limit  int
	Cursor string
}

// ListCommands returns the commands of device id, newest first, and the
// cursor of the next page; c needs read access.
func (s *Service) ListCommands(ctx context.Context, env Env, c Caller, id string, q CommandQuery) ([]Command, string, error) {
	if q.Limit < 0 || q.Limit > MaxListLimit {
		return nil, "", invalid("limit", "must be 1 to %d", MaxListLimit)
	}
	if q.Limit == 0 {
		q.Limit = DefaultListLimit
	}
	switch q.Status {
	case "", CommandQueued, CommandDelivered, CommandSucceeded, CommandFailed, CommandExpired:
	default:
		return nil, "", invalid("status", "one of queued, delivered, succeeded, failed, expired")
	}
	db, _, err := s.loadDevice(ctx, env, c, id, false)
	if err != nil {
		return nil, "", err
	}
	f := []store.Filter{store.Compare{Path: "device", Op: store.OpEq, Value: id}}
	if q.Status != "" {
		f = append(f, store.Compare{Path: "status", Op: store.OpEq, Value: string(q.Status)})
	}
	page, err := db.Collection(collCommands).Find(ctx, store.Query{
		Filter: store.And{Filters: f}, Sort: []store.SortKey{{Path: "createdAt", Desc: true}}, Limit: q.Limit, Cursor: q.Cursor,
	})
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			return nil, "", invalid("cursor", "not a cursor of this list")
		}
		return nil, "", fmt.Errorf("iotbridge: list commands: %w", err)
	}
	out := make([]Command, 0, len(page.Docs))
	for _, d := range page.Docs {
		out = append(out, s.current(ctx, env, db, d))
	}
	return out, page.Cursor, nil
}
