package broker

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/eclipse/paho.golang/packets"
)

// TestUserPropertiesPassThrough checks user properties (in order, repeated
// keys kept) and the other application properties of a PUBLISH reach an MQTT
// 5 subscriber unchanged ([MQTT-3.3.2-17], [MQTT-3.3.2-18]), that an MQTT
// 3.1.1 subscriber gets the same payload, and that the PUBACK does not echo
// them.
func TestUserPropertiesPassThrough(t *testing.T) {
	t.Parallel()
	b := startBroker(t, Config{})
	sub5, _ := connect(t, addrOf(b), v5, connectOpts{id: "sub5", clean: true})
	sub5.subscribe(1, 1, "up/t")
	sub3, _ := connect(t, addrOf(b), v311, connectOpts{id: "sub3", clean: true})
	sub3.subscribe(1, 1, "up/t")

	p, _ := connect(t, addrOf(b), v5, connectOpts{id: "pub", clean: true})
	format := byte(1)
	props := &packets.Properties{
		User:            []packets.User{{Key: "trace", Value: "abc"}, {Key: "k", Value: "1"}, {Key: "k", Value: "2"}},
		ContentType:     "application/json",
		ResponseTopic:   "up/reply",
		CorrelationData: []byte{1, 2, 3},
		PayloadFormat:   &format,
	}
	p.publish(pub{topic: "up/t", payload: []byte(`{"a":1}`), qos: 1, id: 1, props: props})
	ack := p.nextOf(pPuback)
	if len(ack.props.User) != 0 {
		t.Fatalf("PUBACK echoes user properties %v", ack.props.User)
	}

	m := sub5.receive()
	if !reflect.DeepEqual(m.props.User, props.User) {
		t.Fatalf("user properties %v, want %v", m.props.User, props.User)
	}
	if m.props.ContentType != props.ContentType || m.props.ResponseTopic != props.ResponseTopic ||
		!bytes.Equal(m.props.CorrelationData, props.CorrelationData) || m.props.PayloadFormat == nil || *m.props.PayloadFormat != 1 {
		t.Fatalf("properties %+v", m.props)
	}
	if m3 := sub3.receive(); string(m3.payload) != `{"a":1}` {
		t.Fatalf("3.1.1 subscriber got %v", m3)
	}
}
