package broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"
	"go.etcd.io/bbolt"
)

// Buckets of the state file.
var (
	bucketClients  = []byte("clients")
	bucketSubs     = []byte("subscriptions")
	bucketInflight = []byte("inflight")
	bucketRetained = []byte("retained")
)

// persistHook keeps the broker's durable state in a bbolt file: the
// persistent sessions (MQTT 3.1.1 clean session 0, MQTT 5 session expiry
// above 0) with their subscriptions and in-flight QoS 1 and 2 messages,
// and the retained messages. mochi writes through it as the state
// changes and reads it back once in Serve.
//
// It is Skybridge's own rather than mochi's hooks/storage/bolt, which
// stores in-flight messages without their packet id (they come back
// after a restart all as id 0) and closes the file in Stop, while
// connection goroutines may still be writing; here the Broker closes the
// file after every connection has ended (Shutdown), so a message a
// publisher had acknowledged before a graceful stop is on disk.
//
// Sessions that end with their connection are never written: a node of
// devices that all connect with clean sessions touches the file only for
// retained messages.
//
// The file is written without fsync (bbolt NoSync): what the broker
// acknowledged survives the process ending in any way, graceful or not,
// but not the machine losing power before the kernel flushed it.
type persistHook struct {
	mqtt.HookBase
	db *bbolt.DB
}

var _ mqtt.Hook = (*persistHook)(nil)

// openPersistence opens (or creates) the state file at path.
func openPersistence(path string) (*persistHook, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("broker: state directory: %w", err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 2 * time.Second, NoSync: true, NoFreelistSync: true})
	if err != nil {
		return nil, fmt.Errorf("broker: open state file %s: %w", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketClients, bucketSubs, bucketInflight, bucketRetained} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("broker: prepare state file %s: %w", path, err)
	}
	return &persistHook{db: db}, nil
}

// ID names the hook.
func (h *persistHook) ID() string { return "skybridge-persistence" }

// Provides lists the events the hook handles.
func (h *persistHook) Provides(b byte) bool {
	return bytes.Contains([]byte{
		mqtt.OnSessionEstablished,
		mqtt.OnDisconnect,
		mqtt.OnSubscribed,
		mqtt.OnUnsubscribed,
		mqtt.OnRetainMessage,
		mqtt.OnRetainedExpired,
		mqtt.OnWillSent,
		mqtt.OnQosPublish,
		mqtt.OnQosComplete,
		mqtt.OnQosDropped,
		mqtt.OnClientExpired,
		mqtt.StoredClients,
		mqtt.StoredSubscriptions,
		mqtt.StoredInflightMessages,
		mqtt.StoredRetainedMessages,
	}, []byte{b})
}

// Stop does nothing: mochi calls it from Close while connections may
// still be writing; Broker.Shutdown calls close once they ended.
func (h *persistHook) Stop() error { return nil }

// close flushes and closes the state file.
func (h *persistHook) close() error {
	if err := h.db.Sync(); err != nil {
		_ = h.db.Close()
		return fmt.Errorf("broker: flush state file: %w", err)
	}
	return h.db.Close()
}

// keeps reports whether cl's session outlives its connection, so that it
// is worth writing down.
func keeps(cl *mqtt.Client) bool {
	if cl == nil || cl.Net.Inline {
		return false
	}
	if cl.Properties.ProtocolVersion == 5 {
		return cl.Properties.Props.SessionExpiryInterval > 0
	}
	return !cl.Properties.Clean
}

// clientPrefix is the key prefix of everything stored for a client id:
// its length then the id, so that no id is a prefix of another's keys.
func clientPrefix(id string) []byte {
	k := make([]byte, 2, 2+len(id))
	binary.BigEndian.PutUint16(k, uint16(len(id)))
	return append(k, id...)
}

func subKey(id, filter string) []byte { return append(clientPrefix(id), filter...) }

func inflightKey(id string, packetID uint16) []byte {
	return binary.BigEndian.AppendUint16(clientPrefix(id), packetID)
}

// put stores v under key in bucket.
func (h *persistHook) put(bucket, key []byte, v storage.Serializable) {
	data, err := v.MarshalBinary()
	if err == nil {
		err = h.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(bucket).Put(key, data) })
	}
	h.failed("write", err)
}

// del removes the keys of bucket that start with prefix (exact: only
// key itself); it writes only when there is something to remove.
func (h *persistHook) del(bucket, prefix []byte, exact bool) {
	var keys [][]byte
	_ = h.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			if exact && !bytes.Equal(k, prefix) {
				break
			}
			keys = append(keys, bytes.Clone(k))
		}
		return nil
	})
	if len(keys) == 0 {
		return
	}
	err := h.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucket)
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	h.failed("delete", err)
}

// forget removes everything stored for client id.
func (h *persistHook) forget(id string) {
	p := clientPrefix(id)
	h.del(bucketClients, p, true)
	h.del(bucketSubs, p, false)
	h.del(bucketInflight, p, false)
}

func (h *persistHook) failed(what string, err error) {
	if err != nil && h.Log != nil {
		h.Log.Error("broker state file "+what+" failed", "err", err)
	}
}

// saveClient writes cl's session.
func (h *persistHook) saveClient(cl *mqtt.Client) {
	props := cl.Properties.Props.Copy(false)
	h.put(bucketClients, clientPrefix(cl.ID), &storage.Client{
		ID:              cl.ID,
		T:               storage.ClientKey,
		Remote:          cl.Net.Remote,
		Listener:        cl.Net.Listener,
		Username:        cl.Properties.Username,
		Clean:           cl.Properties.Clean,
		ProtocolVersion: cl.Properties.ProtocolVersion,
		Properties: storage.ClientProperties{
			SessionExpiryInterval:     props.SessionExpiryInterval,
			SessionExpiryIntervalFlag: props.SessionExpiryIntervalFlag,
			AuthenticationMethod:      props.AuthenticationMethod,
			RequestProblemInfo:        props.RequestProblemInfo,
			RequestProblemInfoFlag:    props.RequestProblemInfoFlag,
			RequestResponseInfo:       props.RequestResponseInfo,
			ReceiveMaximum:            props.ReceiveMaximum,
			TopicAliasMaximum:         props.TopicAliasMaximum,
			User:                      props.User,
			MaximumPacketSize:         props.MaximumPacketSize,
		},
		Will: storage.ClientWill(cl.Properties.Will),
	})
}

// OnSessionEstablished writes a persistent session down; a clean one
// replaces whatever an earlier session of the client id left.
func (h *persistHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	if keeps(cl) {
		h.saveClient(cl)
		return
	}
	if !cl.Net.Inline {
		h.forget(cl.ID)
	}
}

// OnWillSent rewrites the session without its sent will.
func (h *persistHook) OnWillSent(cl *mqtt.Client, _ packets.Packet) {
	if keeps(cl) {
		h.saveClient(cl)
	}
}

// OnDisconnect removes a session that ends with its connection, unless
// another connection took it over.
func (h *persistHook) OnDisconnect(cl *mqtt.Client, _ error, expire bool) {
	if !expire || cl.Net.Inline || errors.Is(cl.StopCause(), packets.ErrSessionTakenOver) {
		return
	}
	h.forget(cl.ID)
}

// OnClientExpired removes an expired session.
func (h *persistHook) OnClientExpired(cl *mqtt.Client) { h.forget(cl.ID) }

// OnSubscribed writes the granted subscriptions of a persistent session.
func (h *persistHook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, codes []byte) {
	if !keeps(cl) {
		return
	}
	for i, f := range pk.Filters {
		if i >= len(codes) || codes[i] >= 0x80 {
			continue
		}
		h.put(bucketSubs, subKey(cl.ID, f.Filter), &storage.Subscription{
			ID:                cl.ID + ":" + f.Filter,
			T:                 storage.SubscriptionKey,
			Client:            cl.ID,
			Qos:               codes[i],
			Filter:            f.Filter,
			Identifier:        f.Identifier,
			NoLocal:           f.NoLocal,
			RetainHandling:    f.RetainHandling,
			RetainAsPublished: f.RetainAsPublished,
		})
	}
}

// OnUnsubscribed removes subscriptions of a persistent session.
func (h *persistHook) OnUnsubscribed(cl *mqtt.Client, pk packets.Packet) {
	if !keeps(cl) {
		return
	}
	for _, f := range pk.Filters {
		h.del(bucketSubs, subKey(cl.ID, f.Filter), true)
	}
}

// message is the storable form of a packet. A topic alias is not kept:
// the alias table does not survive a restart.
func message(id, client string, pk packets.Packet) *storage.Message {
	props := pk.Properties.Copy(false)
	return &storage.Message{
		ID:          id,
		T:           storage.InflightKey,
		Client:      client,
		Origin:      pk.Origin,
		FixedHeader: pk.FixedHeader,
		PacketID:    pk.PacketID,
		TopicName:   pk.TopicName,
		Payload:     pk.Payload,
		Created:     pk.Created,
		Properties: storage.MessageProperties{
			PayloadFormat:          props.PayloadFormat,
			PayloadFormatFlag:      props.PayloadFormatFlag,
			MessageExpiryInterval:  props.MessageExpiryInterval,
			ContentType:            props.ContentType,
			ResponseTopic:          props.ResponseTopic,
			CorrelationData:        props.CorrelationData,
			SubscriptionIdentifier: props.SubscriptionIdentifier,
			User:                   props.User,
		},
	}
}

// OnQosPublish writes a QoS 1 or 2 message in flight to (or a QoS 2
// exchange with) a persistent session. The transient PUBACK mochi keeps
// while it forwards a client's QoS 1 publish is not written, nor is a
// message sent under an outbound topic alias only (its topic name is not
// in the packet; such a message is lost on restart).
func (h *persistHook) OnQosPublish(cl *mqtt.Client, pk packets.Packet, _ int64, _ int) {
	if !keeps(cl) || pk.FixedHeader.Type == packets.Puback {
		return
	}
	if pk.FixedHeader.Type == packets.Publish && pk.TopicName == "" {
		return
	}
	m := message(cl.ID, cl.ID, pk)
	m.Properties.TopicAlias = 0
	h.put(bucketInflight, inflightKey(cl.ID, pk.PacketID), m)
}

// OnQosComplete removes a finished exchange.
func (h *persistHook) OnQosComplete(cl *mqtt.Client, pk packets.Packet) {
	if keeps(cl) {
		h.del(bucketInflight, inflightKey(cl.ID, pk.PacketID), true)
	}
}

// OnQosDropped removes a dropped (expired) message.
func (h *persistHook) OnQosDropped(cl *mqtt.Client, pk packets.Packet) { h.OnQosComplete(cl, pk) }

// OnRetainMessage writes (or, for an empty payload, removes) a retained
// message.
func (h *persistHook) OnRetainMessage(cl *mqtt.Client, pk packets.Packet, r int64) {
	key := []byte(pk.TopicName)
	if r == -1 {
		h.del(bucketRetained, key, true)
		return
	}
	m := message(pk.TopicName, cl.ID, pk)
	m.T = storage.RetainedKey
	h.put(bucketRetained, key, m)
}

// OnRetainedExpired removes an expired retained message.
func (h *persistHook) OnRetainedExpired(topic string) {
	h.del(bucketRetained, []byte(topic), true)
}

// stored decodes every value of bucket.
func stored[T any, P interface {
	*T
	UnmarshalBinary([]byte) error
}](h *persistHook, bucket []byte) ([]T, error) {
	var out []T
	err := h.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(_, v []byte) error {
			var x T
			if err := P(&x).UnmarshalBinary(v); err != nil {
				return err
			}
			out = append(out, x)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("broker: read state %s: %w", bucket, err)
	}
	return out, nil
}

// StoredClients returns the persistent sessions.
func (h *persistHook) StoredClients() ([]storage.Client, error) {
	return stored[storage.Client](h, bucketClients)
}

// StoredSubscriptions returns their subscriptions.
func (h *persistHook) StoredSubscriptions() ([]storage.Subscription, error) {
	return stored[storage.Subscription](h, bucketSubs)
}

// StoredInflightMessages returns their messages in flight.
func (h *persistHook) StoredInflightMessages() ([]storage.Message, error) {
	return stored[storage.Message](h, bucketInflight)
}

// StoredRetainedMessages returns the retained messages.
func (h *persistHook) StoredRetainedMessages() ([]storage.Message, error) {
	return stored[storage.Message](h, bucketRetained)
}
