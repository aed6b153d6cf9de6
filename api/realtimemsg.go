package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/skybridgehq/skybridge/objectstore"
	"github.com/skybridgehq/skybridge/store"
)

// Operations of the realtime protocol.
const (
	// Client to server.
	rtOpAuth        = "auth"
	rtOpSubscribe   = "subscribe"
	rtOpUnsubscribe = "unsubscribe"
	// Server to client.
	rtOpReady        = "ready"
	rtOpSubscribed   = "subscribed"
	rtOpUnsubscribed = "unsubscribed"
	rtOpError        = "error"
)

// maxSubscriptionIDLen bounds a subscription id.
const maxSubscriptionIDLen = 64

// rtClientMessage is one message from a realtime client:
//
//	{"op":"auth","key":"<app key>","token":"<access token>"}
//	{"op":"subscribe","id":"s1","collection":"todos","filter":{...},"since":42}
//	{"op":"unsubscribe","id":"s1"}
type rtClientMessage struct {
	Op         string          `json:"op"`
	ID         string          `json:"id,omitempty"`
	Collection string          `json:"collection,omitempty"`
	Filter     json.RawMessage `json:"filter,omitempty"`
	// Scope names a sync prefetch scope of the collection instead of a
	// filter: the subscription then gets a {"type":"sync"} hint, without
	// the object, for each change in the scope, so the client pulls.
	Scope string `json:"scope,omitempty"`
	Since *int64 `json:"since,omitempty"`
	// Device subscribes to a device's events (shadow changes, connection,
	// commands) instead of a collection.
	Device string `json:"device,omitempty"`
	Key    string `json:"key,omitempty"`
	Token  string `json:"token,omitempty"`

	// filter is Filter parsed and validated.
	filter store.Filter
}

// parseRealtimeMessage reads and checks one client message. Errors name
// the field at fault (onField) and wrap ErrInvalidInput; the id is
// returned with them when it could be read, so that the error answer can
// name the subscription.
func parseRealtimeMessage(data []byte) (rtClientMessage, error) {
	var m rtClientMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		m = rtClientMessage{ID: bestEffortID(data)}
		return m, fmt.Errorf("%w: the message is not a realtime operation object: %v", ErrInvalidInput, err)
	}
	if dec.More() {
		return m, fmt.Errorf("%w: trailing data after the message", ErrInvalidInput)
	}
	switch m.Op {
	case rtOpAuth:
		if m.Key == "" {
			return m, onField("key", fmt.Errorf("%w: the app key is required", ErrInvalidInput))
		}
		return m, nil
	case rtOpSubscribe, rtOpUnsubscribe:
	case "":
		return m, onField("op", fmt.Errorf("%w: op is required", ErrInvalidInput))
	default:
		return m, onField("op", fmt.Errorf("%w: unknown op %q (auth, subscribe, unsubscribe)", ErrInvalidInput, m.Op))
	}
	if m.ID == "" || len(m.ID) > maxSubscriptionIDLen {
		return m, onField("id", fmt.Errorf("%w: a subscription id of 1 to %d bytes is required", ErrInvalidInput, maxSubscriptionIDLen))
	}
	if m.Op == rtOpUnsubscribe {
		return m, nil
	}
	if m.Device != "" {
		return m, checkDeviceSubscription(m)
	}
	if err := objectstore.ValidCollectionName(m.Collection); err != nil {
		return m, onField("collection", fmt.Errorf("%w: %q is not a collection name", ErrInvalidInput, m.Collection))
	}
	if m.Since != nil && *m.Since < 0 {
		return m, onField("since", fmt.Errorf("%w: since must not be negative", ErrInvalidInput))
	}
	hasFilter := len(m.Filter) > 0 && !bytes.Equal(bytes.TrimSpace(m.Filter), []byte("null"))
	if m.Scope != "" && hasFilter {
		return m, onField("scope", fmt.Errorf("%w: send a filter or a scope, not both", ErrInvalidInput))
	}
	if hasFilter {
		f, err := store.ParseFilter(m.Filter)
		if err != nil {
			var fe *store.FilterError
			if errors.As(err, &fe) {
				return m, onField("filter", fmt.Errorf("%w: %s: %s", ErrInvalidInput, fe.Field, fe.Reason))
			}
			return m, onField("filter", fmt.Errorf("%w: %v", ErrInvalidInput, err))
		}
		m.filter = f
	}
	return m, nil
}

// bestEffortID reads the id of a message that failed strict decoding.
func bestEffortID(data []byte) string {
	var loose struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(data, &loose) != nil || len(loose.ID) > maxSubscriptionIDLen {
		return ""
	}
	return loose.ID
}

// rtEvent is an object event sent to the client.
type rtEvent struct {
	Sub    string             `json:"sub"`
	Type   string             `json:"type"`
	Object objectstore.Object `json:"object"`
	Seq    int64              `json:"_seq"`
}

// rtSyncHint tells a scope subscription that its scope changed: the
// client pulls the collection (POST /v1/sync/pull).
type rtSyncHint struct {
	Sub        string `json:"sub"`
	Type       string `json:"type"` // always "sync"
	Collection string `json:"collection"`
	Seq        int64  `json:"_seq"`
}

// rtReply is an acknowledgement or an error sent to the client.
type rtReply struct {
	Op    string   `json:"op"`
	ID    string   `json:"id,omitempty"`
	Seq   *int64   `json:"_seq,omitempty"`
	User  string   `json:"user,omitempty"`
	Error *Problem `json:"error,omitempty"`
}

// describeRealtime registers GET /v1/realtime in the OpenAPI document.
func describeRealtime(spec *apiSpec) {
	spec.route(http.MethodGet, "/v1/realtime", operation{
		ID: "realtime", Tag: "objects", Security: []string{schemeAppKey},
		Summary: "WebSocket of object events. The app key and access token come as headers, as the query " +
			"parameters key and access_token, or in a first message {\"op\":\"auth\",\"key\",\"token\"}. Client: " +
			"{\"op\":\"subscribe\",\"id\",\"collection\",\"filter\" or \"scope\",\"since\"} (a sync scope gets {\"sub\",\"type\":\"sync\",\"collection\",\"_seq\"} hints instead of events), " +
			"{\"op\":\"subscribe\",\"id\",\"device\"} for a device's events {\"sub\",\"type\":\"shadow|command|connected|disconnected|lastWill\",\"device\",\"event\"} (devices the caller may read), and {\"op\":\"unsubscribe\",\"id\"}. " +
			"Server: {\"op\":\"ready\"}, {\"op\":\"subscribed\",\"id\",\"_seq\"}, {\"op\":\"unsubscribed\",\"id\"}, " +
			"{\"op\":\"error\",\"id\",\"error\":<problem>} and events {\"sub\",\"type\":\"created|updated|deleted\",\"object\",\"_seq\"}. " +
			"since replays the changes after that _seq before the live events, without gaps or duplicates.",
		Responses: []response{{Status: http.StatusSwitchingProtocols, Description: "Switched to the WebSocket protocol."}},
		Problems:  []int{400, 401},
	})
}
