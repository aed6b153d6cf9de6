package sqlite

import (
	"testing"

	"github.com/skybridgehq/skybridge/store"
	"github.com/skybridgehq/skybridge/store/storetest"
)

func newProvider(t testing.TB) store.Provider {
	p, err := Open(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConformance(t *testing.T) {
	storetest.Run(t, newProvider, storetest.Options{})
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, newProvider)
}
