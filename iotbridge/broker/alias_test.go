package broker

import (
	"testing"

	"github.com/eclipse/paho.golang/packets"
)

// TestTopicAliasInbound checks the broker advertises its Topic Alias
// Maximum and resolves aliases a client publishes with ([MQTT-3.3.2-12]).
func TestTopicAliasInbound(t *testing.T) {
	t.Parallel()
	b := startBroker(t, Config{TopicAliasMaximum: 10})
	sub, _ := connect(t, addrOf(b), v311, connectOpts{id: "sub", clean: true})
	sub.subscribe(1, 1, "al/#")
	p, ack := connect(t, addrOf(b), v5, connectOpts{id: "pub", clean: true})
	if ack.props.TopicAliasMaximum == nil || *ack.props.TopicAliasMaximum != 10 {
		t.Fatalf("CONNACK topic alias maximum %v, want 10", ack.props.TopicAliasMaximum)
	}
	alias := uint16(3)
	p.publishAcked(pub{topic: "al/t", payload: []byte("set"), qos: 1, id: 1, props: &packets.Properties{TopicAlias: &alias}})
	p.publishAcked(pub{topic: "", payload: []byte("use"), qos: 1, id: 2, props: &packets.Properties{TopicAlias: &alias}})
	for _, want := range []string{"set", "use"} {
		if m := sub.receive(); m.topic != "al/t" || string(m.payload) != want {
			t.Fatalf("got %v, want %s on al/t", m, want)
		}
	}
	over := uint16(11)
	p.publish(pub{topic: "al/t", qos: 1, id: 3, props: &packets.Properties{TopicAlias: &over}})
	if got := p.closed(); len(got) != 1 || got[0].code != 0x94 {
		t.Fatalf("alias over the maximum: got %v, want DISCONNECT 0x94", got)
	}
}

// TestTopicAliasOutbound checks the broker uses topic aliases towards a
// client that allows them, within its maximum ([MQTT-3.3.2-10]), and sends
// the topic name the first time.
func TestTopicAliasOutbound(t *testing.T) {
	t.Parallel()
	b := startBroker(t, Config{})
	maxAlias := uint16(5)
	sub, _ := connect(t, addrOf(b), v5, connectOpts{id: "sub", clean: true, props: &packets.Properties{TopicAliasMaximum: &maxAlias}})
	sub.subscribe(1, 1, "al/#")
	for range 2 {
		if err := b.Publish("al/long/topic/name", []byte("x"), false, 1); err != nil {
			t.Fatal(err)
		}
	}
	first, second := sub.receive(), sub.receive()
	if first.topic != "al/long/topic/name" || first.props.TopicAlias == nil || *first.props.TopicAlias == 0 || *first.props.TopicAlias > maxAlias {
		t.Fatalf("first delivery %v alias %v: want the topic and an alias 1..%d", first, first.props.TopicAlias, maxAlias)
	}
	if second.topic != "" || second.props.TopicAlias == nil || *second.props.TopicAlias != *first.props.TopicAlias {
		t.Fatalf("second delivery %v: want an empty topic and alias %d", second, *first.props.TopicAlias)
	}
}

// TestTopicAliasNotAllowed checks a client that sets no Topic Alias Maximum
// never gets an alias ([MQTT-3.2.2-18] mirrored for the server).
func TestTopicAliasNotAllowed(t *testing.T) {
	t.Parallel()
	b := startBroker(t, Config{})
	sub, _ := connect(t, addrOf(b), v5, connectOpts{id: "sub", clean: true})
	sub.subscribe(1, 0, "al/#")
	for range 2 {
		if err := b.Publish("al/t", nil, false, 0); err != nil {
			t.Fatal(err)
		}
		if m := sub.receive(); m.topic != "al/t" || m.props.TopicAlias != nil {
			t.Fatalf("got %v alias %v, want the topic and no alias", m, m.props.TopicAlias)
		}
	}
}
