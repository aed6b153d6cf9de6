package iotbridge

import (
	"errors"
	"testing"
)

func TestParseCommandReply(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{`{"status":"succeeded"}`, `{"status":"failed","result":{"code":3}}`, `{"status":"succeeded","result":null}`} {
		if _, err := ParseCommandReply([]byte(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{``, `{}`, `{"status":"expired"}`, `{"status":"queued"}`, `[1]`, `{"status":1}`} {
		if _, err := ParseCommandReply([]byte(bad)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func FuzzCommandReply(f *testing.F) {
	for _, s := range []string{`{"status":"succeeded","result":{"ok":true}}`, `{"status":"failed"}`, `{"status":"delivered"}`, `{`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, err := ParseCommandReply(payload)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if r.Status != CommandSucceeded && r.Status != CommandFailed {
			t.Fatalf("status %q accepted", r.Status)
		}
	})
}
