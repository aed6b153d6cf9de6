package audit

import (
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// FuzzTimestamp holds appendTimestamp to store.FormatTime on any instant,
// in any zone, including years that do not take four digits.
func FuzzTimestamp(f *testing.F) {
	f.Add(int64(1700000000), int64(123456789), 0)
	f.Add(int64(0), int64(999), 3600)
	f.Add(int64(-62135596801), int64(1), -7200) // year 0
	f.Add(int64(253402300800), int64(0), 0)     // year 10000
	f.Add(int64(-62198755200), int64(5e8), 60)  // year -1
	f.Add(int64(1e12), int64(999999999), 50400) // far future
	f.Fuzz(func(t *testing.T, sec, nsec int64, offset int) {
		tm := time.Unix(sec, nsec).In(time.FixedZone("z", offset%(24*3600)))
		if got, want := string(appendTimestamp(nil, tm)), store.FormatTime(tm); got != want {
			t.Fatalf("appendTimestamp(%v) = %s, store.FormatTime %s", tm, got, want)
		}
	})
}

// BenchmarkTimestamp compares appendTimestamp with store.FormatTime,
// which the writer called for every record before.
func BenchmarkTimestamp(b *testing.B) {
	tm := time.Date(2026, 12, 2, 15, 4, 5, 123456789, time.UTC)
	b.Run("impl=appendTimestamp", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 32)
		for b.Loop() {
			buf = appendTimestamp(buf[:0], tm)
		}
	})
	b.Run("impl=store.FormatTime", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = store.FormatTime(tm)
		}
	})
}
