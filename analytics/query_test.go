package analytics

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)

func TestParseQuery(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		q     string
		want  Query
		field string
	}{
		{"", Query{From: "2026-11-07", To: "2026-12-06"}, ""},
		{"to=2026-01-31", Query{From: "2026-01-02", To: "2026-01-31"}, ""},
		{"from=2026-12-01&to=2026-12-01&event=app_open&appVersion=1.2&platform=ios",
			Query{From: "2026-12-01", To: "2026-12-01", Event: "app_open", AppVersion: "1.2", Platform: "ios"}, ""},
		{"from=2025-12-06&to=2026-12-06", Query{From: "2025-12-06", To: "2026-12-06"}, ""},
		{"from=2025-12-05&to=2026-12-06", Query{}, "from"},
		{"from=2026-12-07&to=2026-12-06", Query{}, "from"},
		{"from=2026-2-1", Query{}, "from"},
		{"to=2026-02-30", Query{}, "to"},
		{"event=9", Query{}, "event"},
		{"platform=IOS", Query{}, "platform"},
		{"appVersion=" + strings.Repeat("1", 65), Query{}, "appVersion"},
		{"from=2026-12-01&from=2026-12-02", Query{}, "from"},
		{"cursor=x", Query{}, "cursor"},
	} {
		v, err := url.ParseQuery(c.q)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseQuery(v, testNow)
		if c.field == "" {
			if err != nil || got != c.want {
				t.Errorf("%q: %+v, %v; want %+v", c.q, got, err, c.want)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%q: %v, want a fault on %s", c.q, err, c.field)
		}
	}
}

// FuzzParseQuery checks that any query string either parses into a range
// of at most MaxQueryDays days with valid filters, or is refused with
// faults naming parameters.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "from=2026-12-01&to=2026-12-06", "event=app_open&platform=web&appVersion=2.0",
		"from=2026-13-01", "to=0000-01-01", "from=9999-12-31", "x=1", "from=2026-12-01&from=2026-12-01", "event=%ff", "appVersion=%ff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseQuery(v, testNow)
		if err != nil {
			var fe *FieldError
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("%q: %v", raw, err)
			}
			return
		}
		from, err1 := time.Parse(dayFormat, q.From)
		to, err2 := time.Parse(dayFormat, q.To)
		if err1 != nil || err2 != nil || from.After(to) || to.Sub(from) >= MaxQueryDays*24*time.Hour {
			t.Fatalf("%q: range %s..%s", raw, q.From, q.To)
		}
		if (q.Event != "" && !ValidName(q.Event)) || (q.Platform != "" && !platforms[q.Platform]) {
			t.Fatalf("%q: filters %+v", raw, q)
		}
	})
}
