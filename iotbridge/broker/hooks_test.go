package broker

import (
	"bytes"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// allowHook is the conformance suite's stand-in for the device policy: it
// lets every client connect, and refuses subscriptions to filters in deny
// (for the refused-subscribe reason codes) and publishes to denied topics.
type allowHook struct {
	mqtt.HookBase
	mu   sync.Mutex
	deny map[string]bool
}

var _ mqtt.Hook = (*allowHook)(nil)

func (h *allowHook) ID() string { return "test-allow" }

func (h *allowHook) Provides(b byte) bool {
	return bytes.Contains([]byte{mqtt.OnConnectAuthenticate, mqtt.OnACLCheck}, []byte{b})
}

// OnConnectAuthenticate refuses the username "bad" and allows the rest.
func (h *allowHook) OnConnectAuthenticate(_ *mqtt.Client, pk packets.Packet) bool {
	return string(pk.Connect.Username) != "bad"
}

func (h *allowHook) OnACLCheck(_ *mqtt.Client, topic string, _ bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.deny[topic]
}
