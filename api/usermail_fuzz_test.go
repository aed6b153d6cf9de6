package api

import (
	"errors"
	"net/http"
	"testing"

	"github.com/skybridgehq/skybridge/auth"
	"github.com/skybridgehq/skybridge/mail"
)

// mailFields are the fields a mail settings problem may name.
var mailFields = map[string]bool{
	"host": true, "port": true, "username": true, "password": true, "from": true,
	"security": true, "verifyURL": true, "resetURL": true,
}

// FuzzUserMailPayloads decodes arbitrary bodies as every mail route does
// and checks that what is refused is a 4xx problem, and that refused mail
// settings name known fields.
func FuzzUserMailPayloads(f *testing.F) {
	for _, s := range []string{
		`{"token": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`,
		`{"email": "ada@example.com"}`,
		`{"token": "x", "password": "violet tractor at noon"}`,
		`{"to": "ops@example.com\r\nBcc: eve@example.com"}`,
		`{"host": "smtp.example.com", "port": 587, "username": "u", "password": "p", "from": "A <a@b.c>", "security": "starttls", "verifyURL": "https://a.b/v", "resetURL": "app://r"}`,
		`{"host": "", "port": -1, "from": "a\nb", "security": "ssl", "verifyURL": "javascript:x", "resetURL": "#"}`,
		`{"port": "25"}`, `{"password": null}`, `{"token": 12}`, `[]`, `{`, ``, `{"unknown": 1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var tr tokenRequest
		if err := decodeJSONBytes(body, &tr); err != nil {
			checkClientProblem(t, body, err)
		} else {
			_ = auth.WellFormedMailToken(tr.Token)
		}
		for _, dst := range []any{&forgotRequest{}, &resetRequest{}, &mailTestRequest{}} {
			if err := decodeJSONBytes(body, dst); err != nil {
				checkClientProblem(t, body, err)
			}
		}
		var ms mailSettingsRequest
		if err := decodeJSONBytes(body, &ms); err != nil {
			checkClientProblem(t, body, err)
			return
		}
		up := auth.MailSettingsUpdate{
			Host: ms.Host, Port: ms.Port, Username: ms.Username, Password: ms.Password, From: ms.From,
			Security: mail.Security(ms.Security), VerifyURL: ms.VerifyURL, ResetURL: ms.ResetURL,
		}
		err := up.Validate()
		if err == nil {
			return
		}
		p := checkClientProblem(t, body, mailFieldErrs(err))
		if len(p.Errors) == 0 {
			t.Fatalf("%q: refused settings name no field: %v", body, err)
		}
		for _, fe := range p.Errors {
			if !mailFields[fe.Field] {
				t.Fatalf("%q: problem names unknown field %q", body, fe.Field)
			}
		}
	})
}

// checkClientProblem asserts err becomes a 4xx problem and returns it.
func checkClientProblem(t *testing.T, body []byte, err error) Problem {
	t.Helper()
	p := problemFor(err)
	if p.Status < 400 || p.Status >= 500 || p.Status == http.StatusNotFound {
		t.Fatalf("%q: %v became %d", body, err, p.Status)
	}
	if errors.Is(err, auth.ErrBadToken) && p.Status != http.StatusBadRequest {
		t.Fatalf("%q: bad token is %d", body, p.Status)
	}
	return p
}
