package audit

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"
)

// BenchmarkRecord measures the request-path cost of an async Record (the
// enqueue) and the sustained rate at which the writer stores records.
func BenchmarkRecord(b *testing.B) {
	for name, db := range databases(b) {
		b.Run("store="+name+"/mode=enqueue", func(b *testing.B) {
			b.ReportAllocs()
			s := newService(b, db, Config{QueueSize: b.N + 1})
			s.Start()
			rec := sample("bench", "enqueue", 1)
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.Record(ctx, rec); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if err := s.Close(context.Background()); err != nil {
				b.Fatal(err)
			}
			if st := s.Stats(); st.Overflowed != 0 {
				b.Fatalf("stats %+v", st)
			}
		})
		for _, batch := range []int{256, 512, 1024} {
			b.Run(fmt.Sprintf("store=%s/mode=sustained/batch=%d", name, batch), func(b *testing.B) {
				b.ReportAllocs()
				s := newService(b, db, Config{QueueSize: b.N + 1, BatchSize: batch, FlushInterval: 10 * time.Millisecond})
				s.Start()
				rec := sample("bench", "sustained", 1)
				ctx := context.Background()
				b.ResetTimer()
				start, cpu := time.Now(), processCPU()
				for i := 0; i < b.N; i++ {
					if err := s.Record(ctx, rec); err != nil {
						b.Fatal(err)
					}
				}
				if err := s.Flush(ctx); err != nil {
					b.Fatal(err)
				}
				elapsed, used := time.Since(start), processCPU()-cpu
				b.StopTimer()
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "records/s")
				// CPU per record (enqueue, writer, store, collector) is
				// steadier than the rate on a shared machine.
				b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/record")
				if st := s.Stats(); st.Written != uint64(b.N) {
					b.Fatalf("stats %+v, want %d written", st, b.N)
				}
			})
		}
	}
}

// processCPU returns the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSegment measures the writer's own work for one record of a
// full batch, without the store: chaining, the canonical encoding, its
// hash and the segment's line (format 3, of records like a burst of one
// client's requests), and the segment document.
func BenchmarkSegment(b *testing.B) {
	const size = 256
	recs := make([]*Record, size)
	t0 := time.Date(2026, 12, 2, 15, 4, 5, 0, time.UTC)
	for i := range recs {
		r := sample("bench", "prod", i)
		r.Time = t0.Add(time.Duration(i) * 137 * time.Microsecond)
		r.normalize(time.Time{})
		recs[i] = &r
	}
	var canon []byte
	sb := segmentBuilder{format: newestFormat}
	b.ReportAllocs()
	for b.Loop() {
		sb.reset()
		prev := ""
		for n, r := range recs {
			r.N, r.Prev = int64(n+1), prev
			canon = r.appendCanonical(canon[:0])
			r.Hash = hashOf(canon)
			prev = r.Hash
			sb.add(r, canon)
		}
		_ = sb.doc()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*size), "ns/record")
}
