package iotbridge

import (
	"context"
	"errors"
	"strings"

	"github.com/skybridgehq/skybridge/store"
)

// HandleDeviceMessage handles one message published on a device topic,
// whichever transport brought it (the embedded broker's hook, or the
// shared subscriptions of External): shadow get/update/delete requests
// are answered on their /accepted and /rejected topics, command replies
// update their command, telemetry is queued for the store. Other topics
// are ignored. The topic names the device: the transport has checked
// that the publisher may use it (the embedded hook's policy, or the
// external broker's ACL).
func (s *Service) HandleDeviceMessage(ctx context.Context, topic string, payload []byte) {
	if dev, stream, match, valid := parseTelemetryTopic(topic); match {
		s.ingestTelemetry(ctx, dev, stream, valid, payload)
		return
	}
	if t, ok := parseShadowTopic(topic); ok {
		s.handleShadow(ctx, t, payload)
		return
	}
	if dev, cmd, ok := parseReplyTopic(topic); ok {
		s.handleReply(ctx, dev, cmd, payload)
	}
}

// handledTopic reports whether HandleDeviceMessage acts on a message on
// topic (telemetry, a shadow request, a command reply).
func handledTopic(topic string) bool {
	if _, _, match, _ := parseTelemetryTopic(topic); match {
		return true
	}
	if _, ok := parseShadowTopic(topic); ok {
		return true
	}
	_, _, ok := parseReplyTopic(topic)
	return ok
}

// topicDevice is the device id a device topic names ("" for another
// topic).
func topicDevice(topic string) string {
	for _, p := range [...]string{awsThingsPrefix, devicesPrefix} {
		if rest, ok := strings.CutPrefix(topic, p); ok {
			id, _, _ := strings.Cut(rest, "/")
			return id
		}
	}
	return ""
}

// handleShadow answers one shadow request of a device.
func (s *Service) handleShadow(ctx context.Context, t shadowTopic, payload []byte) {
	base := t.base() + "/" + t.op
	env, err := s.locate(ctx, t.device)
	var db store.DB
	if err == nil {
		db, err = s.envDB(ctx, env)
	}
	if err != nil {
		s.reject(base, nil, err)
		return
	}
	switch t.op {
	case opUpdate:
		u, rej := ParseShadowUpdate(payload, s.cfg.ShadowMaxBytes)
		if rej != nil {
			s.reject(base, u.ClientToken, rej)
			return
		}
		res, err := s.updateShadow(ctx, db, t.device, t.shadow, u)
		if err != nil {
			s.reject(base, u.ClientToken, err)
			return
		}
		s.publishUpdate(t.device, t.shadow, u, res)
		cur := res.Current
		s.emit(ctx, Event{Type: EventShadow, Env: env, DeviceID: t.device, Shadow: t.shadow, Document: &cur, ByDevice: true, Topic: base})
	case opGet:
		r, rej := ParseShadowRequest(payload)
		if rej != nil {
			s.reject(base, r.ClientToken, rej)
			return
		}
		doc, err := getShadow(ctx, db, t.device, t.shadow)
		if err != nil {
			s.reject(base, r.ClientToken, err)
			return
		}
		doc.ClientToken = r.ClientToken
		doc.Timestamp = s.now().Unix()
		s.publish(base+"/accepted", marshal(doc), 0)
	case opDelete:
		r, rej := ParseShadowRequest(payload)
		if rej != nil {
			s.reject(base, r.ClientToken, rej)
			return
		}
		version, err := s.deleteShadow(ctx, db, t.device, t.shadow, r.Version)
		if err != nil {
			s.reject(base, r.ClientToken, err)
			return
		}
		ans := map[string]any{"version": version, "timestamp": s.now().Unix()}
		if r.ClientToken != nil {
			ans["clientToken"] = *r.ClientToken
		}
		s.publish(base+"/accepted", marshal(ans), 0)
		s.emit(ctx, Event{Type: EventShadow, Env: env, DeviceID: t.device, Shadow: t.shadow, Deleted: true, Document: &Document{Version: version}, ByDevice: true, Topic: base})
	}
}

// reject publishes the /rejected answer of a request: its code and
// message when err is a *ShadowError, else 500.
func (s *Service) reject(base string, token *string, err error) {
	var rej *ShadowError
	if !errors.As(err, &rej) {
		s.log.Error("shadow request failed", "topic", base, "err", err)
		rej = rejection(500, "Internal service failure")
	}
	ans := map[string]any{"code": rej.Code, "message": rej.Message, "timestamp": s.now().Unix()}
	if token != nil {
		ans["clientToken"] = *token
	}
	s.publish(base+"/rejected", marshal(ans), 0)
}

// handleReply records a command reply; bad or late replies are logged at
// debug level and dropped.
func (s *Service) handleReply(ctx context.Context, dev, cmd string, payload []byte) {
	r, err := ParseCommandReply(payload)
	if err == nil {
		var env Env
		if env, err = s.locate(ctx, dev); err == nil {
			err = s.reply(ctx, env, dev, cmd, r)
		}
	}
	if err != nil {
		s.log.Debug("command reply dropped", "device", dev, "command", cmd, "err", err)
	}
}
