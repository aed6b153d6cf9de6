package broker

import (
	"fmt"
	"testing"
)

// TestWildcards checks delivery through + and # filters and that $ topics
// are not matched by filters starting with a wildcard ([MQTT-4.7.2-1]), over
// the wire for both versions.
func TestWildcards(t *testing.T) {
	t.Parallel()
	cases := []struct {
		filter string
		topics map[string]bool // topic -> delivered
	}{
		{"w/+/c", map[string]bool{"w/b/c": true, "w//c": true, "w/b/c/d": false, "w/c": false}},
		{"w/#", map[string]bool{"w": true, "w/b": true, "w/b/c/d": true, "x/w": false}},
		{"+/+", map[string]bool{"w/b": true, "/b": true, "w": false, "$x/b": false}},
		{"#", map[string]bool{"w/b": true, "$x": false, "$aws/things/d/shadow/get": false}},
		{"+/things/#", map[string]bool{"a/things/x": true, "$aws/things/x": false}},
		{"$aws/things/+/shadow/#", map[string]bool{"$aws/things/d/shadow/update": true, "$aws/things/d/other": false}},
	}
	for _, tc := range versions {
		for i, c := range cases {
			t.Run(fmt.Sprintf("%s/%d", tc.name, i), func(t *testing.T) {
				t.Parallel()
				b := startBroker(t, Config{})
				sub, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "sub", clean: true})
				sub.subscribe(1, 1, c.filter)
				sub.subscribe(2, 1, "marker/#")
				p, _ := connect(t, addrOf(b), tc.v, connectOpts{id: "pub", clean: true})
				var want []string
				for topic, ok := range c.topics {
					p.publishAcked(pub{topic: topic, payload: []byte(topic), qos: 1, id: 1})
					if ok {
						want = append(want, topic)
					}
				}
				p.publishAcked(pub{topic: "marker/end", qos: 1, id: 2})
				got := map[string]bool{}
				for {
					m := sub.receive()
					if m.topic == "marker/end" {
						break
					}
					got[m.topic] = true
				}
				for _, w := range want {
					if !got[w] {
						t.Errorf("filter %q: %q not delivered", c.filter, w)
					}
					delete(got, w)
				}
				if len(got) > 0 {
					t.Errorf("filter %q: delivered %v, not matching", c.filter, got)
				}
			})
		}
	}
}
