package broker

import (
	"strings"
	"unicode/utf8"
)

// maxTopicLen is the longest topic name or filter MQTT can carry (a
// two-byte length prefix).
const maxTopicLen = 65535

// ValidTopic reports whether name is a valid MQTT topic name to publish
// to: 1 to 65535 bytes of UTF-8 without NUL and without the wildcards + and
// # ([MQTT-4.7.3-1], [MQTT-4.7.1-1], [MQTT-1.5.3-2]).
func ValidTopic(name string) bool {
	return validTopicString(name) && !strings.ContainsAny(name, "+#")
}

// ValidFilter reports whether filter is a valid MQTT topic filter: 1 to
// 65535 bytes of UTF-8 without NUL, where + stands alone in its level and #
// stands alone in the last level ([MQTT-4.7.1-2], [MQTT-4.7.1-3]). Shared
// subscription filters ($share/...) are not handled here.
func ValidFilter(filter string) bool {
	if !validTopicString(filter) {
		return false
	}
	for rest, more := filter, true; more; {
		var l string
		l, rest, more = strings.Cut(rest, "/")
		switch {
		case l == "#":
			if more {
				return false // # must be the last level
			}
		case l == "+":
		case strings.ContainsAny(l, "+#"):
			return false
		}
	}
	return true
}

func validTopicString(s string) bool {
	return s != "" && len(s) <= maxTopicLen && utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// Matches reports whether the topic name matches the topic filter, as a
// broker decides delivery: + matches exactly one level (possibly empty), a
// trailing # matches the parent level and any number of levels below it,
// and a filter starting with a wildcard does not match a topic starting
// with $ ([MQTT-4.7.2-1]). It is false when either is invalid. Policy code
// uses it to check a topic against the filters a device is allowed.
func Matches(filter, topic string) bool {
	if !ValidFilter(filter) || !ValidTopic(topic) {
		return false
	}
	if topic[0] == '$' && (filter[0] == '+' || filter[0] == '#') {
		return false
	}
	for {
		fl, frest, fmore := strings.Cut(filter, "/")
		if fl == "#" {
			return true
		}
		tl, trest, tmore := strings.Cut(topic, "/")
		if fl != "+" && fl != tl {
			return false
		}
		switch {
		case !fmore && !tmore:
			return true
		case !tmore:
			// The topic ended; only a trailing "/#" still matches.
			return frest == "#"
		case !fmore:
			return false
		}
		filter, topic = frest, trest
	}
}
