package ratelimit

import (
	"errors"
	"testing"
	"time"
)

func TestParsePolicy(t *testing.T) {
	good := []struct {
		in   string
		want Policy
		str  string
	}{
		{"600/1m", Policy{Limit: 600, Period: time.Minute}, "600/1m"},
		{" 10/s ", Policy{Limit: 10, Period: time.Second}, "10/1s"},
		{"5000/h", Policy{Limit: 5000, Period: time.Hour}, "5000/1h"},
		{"100/1h30m", Policy{Limit: 100, Period: 90 * time.Minute}, "100/1h30m"},
		{"1/1m burst 5", Policy{Limit: 1, Period: time.Minute, Burst: 5}, "1/1m burst 5"},
		{"OFF", Off, "off"},
	}
	for _, tc := range good {
		p, err := ParsePolicy(tc.in)
		if err != nil || p != tc.want {
			t.Errorf("ParsePolicy(%q) = %+v, %v; want %+v", tc.in, p, err, tc.want)
			continue
		}
		if p.String() != tc.str {
			t.Errorf("%+v.String() = %q, want %q", p, p.String(), tc.str)
		}
	}
	for _, in := range []string{"", "600", "600/", "/1m", "0/1m", "-1/1m", "x/1m", "600/forever", "600/0s",
		"600/48h", "2000000/1s", "1/1m burst 0", "1/1m burst 11", "1/1m burst x", "1.5/1m", "600/1m burst"} {
		if p, err := ParsePolicy(in); !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("ParsePolicy(%q) = %+v, %v; want ErrInvalidPolicy", in, p, err)
		}
	}
}

func TestPolicyValidate(t *testing.T) {
	if err := Off.Validate(); err != nil {
		t.Fatal(err)
	}
	if !(Policy{}).IsZero() || Off.IsZero() || !Off.Disabled() {
		t.Fatal("zero and off")
	}
	for _, p := range []Policy{{Limit: 1}, {Limit: 1, Period: time.Microsecond}, {Limit: 1, Period: time.Second, Burst: -1}} {
		if err := p.Validate(); !errors.Is(err, ErrInvalidPolicy) {
			t.Errorf("%+v: %v", p, err)
		}
	}
}

// FuzzParsePolicy: whatever comes in, the parser either refuses it with
// ErrInvalidPolicy or returns a valid policy that prints back to itself,
// and the algorithm's arithmetic stays in range.
func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{"600/1m", "10/s", "off", "1/1m burst 10", "6000/1h", "1000000/1s", "0/1m", "1/1ms", "9223372036854775807/24h", "5/-1s", "3/1m burst 30", "7/1m0s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePolicy(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("%q: error %v is not ErrInvalidPolicy", s, err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("%q parsed into an invalid policy %+v: %v", s, p, err)
		}
		back, err := ParsePolicy(p.String())
		if err != nil || back != p {
			t.Fatalf("%q → %+v → %q → %+v, %v", s, p, p.String(), back, err)
		}
		if p.Disabled() {
			return
		}
		g := gcraOf(p)
		if g.interval < 1 || g.tolerance < g.interval || g.tolerance > 10*int64(MaxPeriod/time.Microsecond) {
			t.Fatalf("%+v: gcra %+v out of range", p, g)
		}
		now := time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
		res, tat := g.decide(0, now)
		if !res.Allowed || res.Remaining != g.burst-1 || tat != now+g.interval {
			t.Fatalf("%+v: first request %+v, tat %d", p, res, tat)
		}
	})
}
