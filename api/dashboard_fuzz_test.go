package api

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// FuzzDashboardMinutes parses arbitrary minutes parameters: either a
// window of 1 to 1440 minutes that is the number given (60 when
// absent), or a 400 problem naming minutes.
func FuzzDashboardMinutes(f *testing.F) {
	for _, s := range []string{"", "1", "60", "1440", "0", "1441", "-1", "+5", "05", "1e3", "ten", " 60", "9223372036854775808"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		n, err := dashboardMinutes(v)
		if err != nil {
			if !errors.Is(err, ErrInvalidInput) {
				t.Fatalf("%q: %v is not invalid input", v, err)
			}
			p := problemFor(err)
			if p.Status != http.StatusBadRequest || len(p.Errors) != 1 || p.Errors[0].Field != "minutes" {
				t.Fatalf("%q: problem %+v", v, p)
			}
			return
		}
		if n < 1 || n > maxDashboardMinutes {
			t.Fatalf("%q: %d minutes", v, n)
		}
		if want, err := strconv.Atoi(v); v != "" && (err != nil || want != n) {
			t.Fatalf("%q read as %d", v, n)
		}
		if v == "" && n != defaultDashboardMinutes {
			t.Fatalf("default %d", n)
		}
	})
}

// TestCacheOutcome reads X-Skybridge-Cache as the dashboard counts it.
func TestCacheOutcome(t *testing.T) {
	t.Parallel()
	for v, want := range map[string]string{"hit": "hit", "stale": "hit", "miss": "miss", "": "none", "bogus": "none"} {
		w := httptest.NewRecorder()
		if v != "" {
			w.Header().Set(CacheHeader, v)
		}
		got := map[uint8]string{0: "none", 1: "hit", 2: "miss"}[uint8(cacheOutcome(w.Header()))]
		if got != want {
			t.Errorf("%q: %s, want %s", v, got, want)
		}
	}
}
