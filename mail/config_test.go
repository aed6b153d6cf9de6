package mail

import (
	"strings"
	"testing"
	"time"
)

func TestConfigWithDefaults(t *testing.T) {
	t.Parallel()
	c := Config{}.withDefaults()
	if c.Timeout != DefaultTimeout || c.HelloName != "localhost" || c.Now == nil || c.RootCAs != nil {
		t.Errorf("defaults: %+v", c)
	}
	set := Config{Timeout: time.Second, HelloName: "mx.example.com"}.withDefaults()
	if set.Timeout != time.Second || set.HelloName != "mx.example.com" {
		t.Errorf("set values overridden: %+v", set)
	}
}

func TestRenderHeaders(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	env, data, err := Message{From: "Ada <ada@example.com>", To: "bob@example.org", Subject: "Hi", Body: "one\ntwo"}.render(now)
	if err != nil {
		t.Fatal(err)
	}
	if env.from != "ada@example.com" || env.to != "bob@example.org" {
		t.Errorf("envelope %+v", env)
	}
	text := string(data)
	for _, want := range []string{
		"Date: Fri, 02 Jan 2026 03:04:05 +0000\r\n", "From: \"Ada\" <ada@example.com>\r\n", "To: <bob@example.org>\r\n",
		"Subject: Hi\r\n", "MIME-Version: 1.0\r\n", "Content-Type: text/plain; charset=utf-8\r\n",
		"Content-Transfer-Encoding: 7bit\r\n", "\r\n\r\none\r\ntwo\r\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("message lacks %q:\n%s", want, text)
		}
	}
}
