package push

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzSendRequest feeds POST /v1/push/send bodies through decoding,
// validation, the target filter and rendering: nothing panics, and a
// request that validates renders for any locale.
func FuzzSendRequest(f *testing.F) {
	for _, s := range []string{
		`{"target":{"topics":["news"]},"notification":{"title":"Hi","body":"there"}}`,
		`{"target":{"users":["u1"],"segment":{"locale":{"$regex":"^de"}}},"notification":{"title":"x","data":{"a":1}},"template":{"de":{"title":"Hallo {{name}}"}},"vars":{"name":"A"}}`,
		`{"target":{"installations":["i"]},"notification":{"contentAvailable":true},"scheduleAt":"2030-01-01T09:00:00","localTime":true}`,
		`{"target":{"segment":{"$or":[{"platform":"ios"},{"topics":{"$in":["a"]}}]}},"notification":{"title":"{{","badge":-1}}`,
		`{"target":{},"notification":{}}`,
	} {
		f.Add(s, "de-AT")
	}
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body, locale string) {
		var r SendRequest
		if json.Unmarshal([]byte(body), &r) != nil {
			return
		}
		if err := r.validate(now); err != nil {
			var fe *FieldError
			if !strings.Contains(err.Error(), ErrInvalid.Error()) || !asField(err, &fe) {
				t.Fatalf("validation error without a field: %v", err)
			}
			return
		}
		_ = r.filter()
		_, _ = r.text(locale)
		_ = r.dueFor(locale, now)
	})
}

func asField(err error, fe **FieldError) bool {
	e, ok := err.(*FieldError)
	*fe = e
	return ok
}

// FuzzRender: {{name}} placeholders never panic and never lose text
// outside them.
func FuzzRender(f *testing.F) {
	for _, s := range []string{"Hello {{name}}", "{{", "}}{{a}}{{", "{{ a }}{{b}}x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := render(s, map[string]any{"name": "N", "a": 1})
		if !strings.Contains(s, "{{") && out != s {
			t.Fatalf("render(%q) = %q", s, out)
		}
	})
}

// FuzzInstallationInput: registration input is refused with a field or
// accepted, never a panic.
func FuzzInstallationInput(f *testing.F) {
	f.Add(`{"platform":"ios","token":"00112233445566778899aabbccddeeff","topics":["a"],"locale":"en","timezone":"Europe/Paris"}`)
	f.Add(`{"platform":"android","token":"x","topics":["a b"]}`)
	f.Add(`{"platform":"web","token":"fcm-token-1234567890","timezone":"Local"}`)
	f.Fuzz(func(t *testing.T, body string) {
		var in InstallationInput
		if json.Unmarshal([]byte(body), &in) != nil {
			return
		}
		if err := validPlatform(in.Platform); err != nil {
			return
		}
		if err := validToken(in.Platform, in.Token); err != nil {
			return
		}
		doc := map[string]any{}
		if err := in.apply(doc); err != nil {
			var fe *FieldError
			if !asField(err, &fe) {
				t.Fatalf("error without a field: %v", err)
			}
		}
	})
}
