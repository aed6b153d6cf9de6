package rest

import (
	"strconv"
	"strings"

	"github.com/skybridgehq/skybridge/connectors/internal/confmap"
)

// outcome is what a call makes of one upstream status.
type outcome uint8

const (
	// outcomeOK: success, the body decoded as Response.Body.
	outcomeOK outcome = iota
	// outcomeEmpty: success with a nil Response.Body (`null` / "empty").
	outcomeEmpty
	// outcomeError: failure, KindStatus with the decoded body.
	outcomeError
)

// statusRule is one `statuses` entry: an exact code ("404") or a class
// ("4xx").
type statusRule struct {
	code  int // 100-599, or 1-5 for a class
	class bool
	out   outcome
}

// statusTable maps every status 0-599 to its outcome; built once per
// operation at New so that a call only indexes it.
type statusTable [600]outcome

// lookup returns code's outcome; codes outside 100-599 are failures.
func (t *statusTable) lookup(code int) outcome {
	if code < 100 || code >= len(t) {
		return outcomeError
	}
	return t[code]
}

// buildStatusTable applies the default (>= 400 fails) and then the rule
// lists in order, classes before codes within each list, so an operation's
// rules override the connector's and a code overrides its class.
func buildStatusTable(lists ...[]statusRule) *statusTable {
	t := new(statusTable)
	for c := 400; c < len(t); c++ {
		t[c] = outcomeError
	}
	for _, rules := range lists {
		for _, classes := range []bool{true, false} {
			for _, r := range rules {
				if r.class != classes {
					continue
				}
				if r.class {
					for c := r.code * 100; c < r.code*100+100; c++ {
						t[c] = r.out
					}
				} else {
					t[r.code] = r.out
				}
			}
		}
	}
	return t
}

// readStatuses reads a `statuses` mapping.
func readStatuses(m confmap.Map) []statusRule {
	var rules []statusRule
	for _, key := range m.Keys() {
		field := m.Field(key)
		var r statusRule
		k := strings.ToLower(strings.TrimSpace(key))
		if len(k) == 3 && strings.HasSuffix(k, "xx") && k[0] >= '1' && k[0] <= '5' {
			r.code, r.class = int(k[0]-'0'), true
		} else if n, err := strconv.Atoi(k); err == nil && n >= 100 && n <= 599 {
			r.code = n
		} else {
			m.Reader().Errorf(field, "must be a status code (404) or class (4xx)")
			continue
		}
		v, _ := m.Raw(key)
		s, isString := v.(string)
		if v == nil {
			s, isString = "empty", true
		}
		if !isString {
			s = "?" // lists and mappings are no outcome
		}
		switch s {
		case "empty":
			r.out = outcomeEmpty
		case "ok", "success":
			r.out = outcomeOK
		case "error", "failure":
			r.out = outcomeError
		default:
			if !m.Reader().Skip(v) {
				m.Reader().Errorf(field, "must be null, empty, ok or error")
			}
			continue
		}
		rules = append(rules, r)
	}
	return rules
}
