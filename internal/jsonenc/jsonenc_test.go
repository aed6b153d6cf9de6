package jsonenc

import (
	"encoding/json"
	"math"
	"testing"
)

// FuzzAppendString checks AppendString against encoding/json on any
// string, valid UTF-8 or not.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", `"quoted" \ back`, "<a>&</a>", "\u2028\u2029", "\x00\x1f\t\n\r\b\f", "bad \xff utf8", "é 日本"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Fatalf("AppendString(%q) = %s, encoding/json %s", s, got, want)
		}
	})
}

// FuzzAppendFloat checks AppendFloat against encoding/json on any
// float64, and that it refuses what JSON cannot hold.
func FuzzAppendFloat(f *testing.F) {
	for _, x := range []float64{0, math.Copysign(0, -1), 1, -1.5, 1e-7, 1e-6, 123456789, 1e20, 1e21, 5e-324, math.MaxFloat64} {
		f.Add(x)
	}
	f.Fuzz(func(t *testing.T, x float64) {
		got, ok := AppendFloat(nil, x)
		want, err := json.Marshal(x)
		if (err == nil) != ok {
			t.Fatalf("AppendFloat(%v) ok=%v, encoding/json err %v", x, ok, err)
		}
		if ok && string(got) != string(want) {
			t.Fatalf("AppendFloat(%v) = %s, encoding/json %s", x, got, want)
		}
	})
}

// BenchmarkAppendString encodes strings like those of an audit record and
// of a stored segment: plain ASCII, with a few characters to escape.
func BenchmarkAppendString(b *testing.B) {
	for name, s := range map[string]string{
		"kind=plain":   "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) skybridge-ios/1.2.3",
		"kind=escapes": `{"a":"<b>&c</b>","d":"\u00e9"}` + "\t\n",
	} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 256)
			for b.Loop() {
				buf = AppendString(buf[:0], s)
			}
		})
	}
}
