package iotbridge

import (
	"regexp"
	"strings"
)

// Topic namespaces reserved for devices: a device may publish and
// subscribe only under its own subtree of each.
const (
	awsThingsPrefix = "$aws/things/"
	devicesPrefix   = "skybridge/devices/"
)

// Shadow operations, the last level of a shadow request topic.
const (
	opGet    = "get"
	opUpdate = "update"
	opDelete = "delete"
)

var (
	deviceIDRe   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	shadowNameRe = regexp.MustCompile(`^[A-Za-z0-9:_-]{1,64}$`)
)

// ValidDeviceID reports whether id can name a device: 1 to 128 letters,
// digits, '_' or '-'.
func ValidDeviceID(id string) bool { return deviceIDRe.MatchString(id) }

// ValidShadowName reports whether name can name a named shadow: 1 to 64
// letters, digits, ':', '_' or '-', as AWS IoT allows.
func ValidShadowName(name string) bool { return shadowNameRe.MatchString(name) }

// shadowTopic is a parsed shadow request topic:
// $aws/things/<device>/shadow[/name/<shadow>]/<op>.
type shadowTopic struct {
	device, shadow, op string
}

// parseShadowTopic reads a shadow request topic; ok is false for any
// other topic (the replies /accepted, /rejected ... included).
func parseShadowTopic(topic string) (t shadowTopic, ok bool) {
	rest, found := strings.CutPrefix(topic, awsThingsPrefix)
	if !found {
		return t, false
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 3 && parts[1] == "shadow":
		t = shadowTopic{device: parts[0], op: parts[2]}
	case len(parts) == 5 && parts[1] == "shadow" && parts[2] == "name":
		t = shadowTopic{device: parts[0], shadow: parts[3], op: parts[4]}
		if !ValidShadowName(t.shadow) {
			return t, false
		}
	default:
		return t, false
	}
	if !ValidDeviceID(t.device) {
		return t, false
	}
	switch t.op {
	case opGet, opUpdate, opDelete:
		return t, true
	}
	return t, false
}

// base is the request topic without the operation.
func (t shadowTopic) base() string { return shadowBase(t.device, t.shadow) }

// shadowBase is the topic prefix of a shadow's operations.
func shadowBase(device, shadow string) string {
	if shadow == "" {
		return awsThingsPrefix + device + "/shadow"
	}
	return awsThingsPrefix + device + "/shadow/name/" + shadow
}

// deltaTopic is where a shadow's deltas go.
func deltaTopic(device, shadow string) string { return shadowBase(device, shadow) + "/update/delta" }

// commandsTopic is where a device's commands go.
func commandsTopic(device string) string { return devicesPrefix + device + "/commands" }

// parseReplyTopic reads skybridge/devices/<device>/commands/<cmd>/reply.
func parseReplyTopic(topic string) (device, cmd string, ok bool) {
	rest, found := strings.CutPrefix(topic, devicesPrefix)
	if !found {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 4 || parts[1] != "commands" || parts[3] != "reply" || !ValidDeviceID(parts[0]) || !validCommandID(parts[2]) {
		return "", "", false
	}
	return parts[0], parts[2], true
}

// stripShared removes the $share/<group>/ prefix of a shared subscription
// filter.
func stripShared(filter string) string {
	if rest, ok := strings.CutPrefix(filter, "$share/"); ok {
		if _, inner, ok := strings.Cut(rest, "/"); ok {
			return inner
		}
		return ""
	}
	return filter
}

// deviceMayUse reports whether device may publish to or subscribe with
// the topic (filter): only under its own $aws/things/<id>/ and
// skybridge/devices/<id>/ subtrees.
func deviceMayUse(device, topic string) bool {
	topic = stripShared(topic)
	for _, p := range [...]string{awsThingsPrefix, devicesPrefix} {
		rest, ok := strings.CutPrefix(topic, p)
		if !ok {
			continue
		}
		id, sub, ok := strings.Cut(rest, "/")
		return ok && id == device && sub != ""
	}
	return false
}

// anonymousMayUse reports whether a client without credentials may use
// the topic (filter): anything that cannot reach the reserved
// namespaces. A filter starting with a wildcard could match
// skybridge/... and is refused; $-topics are refused whole.
func anonymousMayUse(topic string) bool {
	topic = stripShared(topic)
	if topic == "" || strings.HasPrefix(topic, "$") {
		return false
	}
	first, _, _ := strings.Cut(topic, "/")
	return first != "skybridge" && first != "+" && first != "#"
}

// filterMatches reports whether the MQTT topic filter (with + and #)
// matches topic. Filters starting with a wildcard do not match $-topics.
func filterMatches(filter, topic string) bool {
	filter = stripShared(filter)
	if filter == "" || topic == "" {
		return false
	}
	if strings.HasPrefix(topic, "$") && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	fl := strings.Split(filter, "/")
	tl := strings.Split(topic, "/")
	for i, f := range fl {
		if f == "#" {
			return i == len(fl)-1
		}
		if i >= len(tl) {
			return false
		}
		if f != "+" && f != tl[i] {
			return false
		}
	}
	return len(fl) == len(tl)
}
