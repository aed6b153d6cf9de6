package broker

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestConfigWithDefaults(t *testing.T) {
	t.Parallel()
	got := Config{}.withDefaults()
	if got.Addr != ":1883" || got.MaxOfflineQueue != 1000 || got.MaxPacketSize != 256<<10 ||
		got.ReceiveMaximum != 1024 || got.TopicAliasMaximum != 64 || got.MaxSessionExpiry != time.Hour ||
		got.MaxMessageExpiry != 30*24*time.Hour || got.MaxClientWritesPending != 1024 || got.Logger == nil {
		t.Fatalf("defaults = %+v", got)
	}
	set := Config{Addr: "127.0.0.1:0", MaxOfflineQueue: 7, MaxPacketSize: 100, ReceiveMaximum: 3,
		TopicAliasMaximum: 2, MaxSessionExpiry: time.Minute, MaxMessageExpiry: time.Second,
		MaxClientWritesPending: 5}.withDefaults()
	if set.Addr != "127.0.0.1:0" || set.MaxOfflineQueue != 7 || set.MaxPacketSize != 100 || set.ReceiveMaximum != 3 ||
		set.TopicAliasMaximum != 2 || set.MaxSessionExpiry != time.Minute || set.MaxMessageExpiry != time.Second ||
		set.MaxClientWritesPending != 5 {
		t.Fatalf("set values changed: %+v", set)
	}
	capped := Config{MaxOfflineQueue: 1 << 20, ReceiveMaximum: 1 << 20, TopicAliasMaximum: 1 << 20}.withDefaults()
	if capped.MaxOfflineQueue != 65535 || capped.ReceiveMaximum != 65535 || capped.TopicAliasMaximum != 65535 {
		t.Fatalf("not capped to 16 bits: %+v", capped)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	b, err := New(Config{Addr: "127.0.0.1:0", Logger: DiscardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := b.Ping(ctx); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("Ping before Start = %v, want ErrNotStarted", err)
	}
	if err := b.Publish("a", nil, false, 0); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("Publish before Start = %v", err)
	}
	if b.Addr() != nil {
		t.Fatalf("Addr before Start = %v", b.Addr())
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); !errors.Is(err, ErrStarted) {
		t.Fatalf("second Start = %v", err)
	}
	if err := b.AddHook(&allowHook{}, nil); !errors.Is(err, ErrStarted) {
		t.Fatalf("AddHook after Start = %v", err)
	}
	if b.Addr() == nil || b.Addr().String() == "127.0.0.1:0" {
		t.Fatalf("Addr after Start = %v", b.Addr())
	}
	if err := b.Ping(ctx); err != nil {
		t.Fatalf("Ping = %v", err)
	}
	if err := b.Publish("a/b", []byte("x"), false, 3); err == nil {
		t.Fatal("Publish with qos 3 succeeded")
	}
	for _, bad := range []string{"a/+", "a/#", "", "$SYS/x", "a\x00b"} {
		if err := b.Publish(bad, []byte("x"), false, 0); err == nil {
			t.Fatalf("Publish to %q succeeded", bad)
		}
	}
	if err := b.Publish("a/b", []byte("x"), true, 1); err != nil {
		t.Fatal(err)
	}
	if err := b.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown = %v", err)
	}
	if err := b.Ping(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ping after Shutdown = %v", err)
	}
}

func TestOwnsClientID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		device, client string
		want           bool
	}{
		{"dev1", "dev1", true},
		{"dev1", "dev1:sub", true},
		{"dev1", "dev1:", true},
		{"dev1", "dev10", false},
		{"dev1", "dev", false},
		{"dev1", "xdev1", false},
		{"", "", false},
		{"", ":x", false},
	} {
		if got := OwnsClientID(tc.device, tc.client); got != tc.want {
			t.Errorf("OwnsClientID(%q, %q) = %v, want %v", tc.device, tc.client, got, tc.want)
		}
	}
}
