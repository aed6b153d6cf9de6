package testenv

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// FerretDB is a MongoDB-wire server embedded in the test process, backed by
// SQLite files in a temporary directory. It stands in for MongoDB where no
// real one is configured; see store/mongo for what it does not do alike.
type FerretDB struct {
	uri    string
	dir    string
	cancel context.CancelFunc
	done   chan struct{}
}

// StartFerretDB starts FerretDB on a free loopback port. Stop it with Stop.
func StartFerretDB() (*FerretDB, error) {
	dir, err := os.MkdirTemp("", "sb-ferretdb-")
	if err != nil {
		return nil, err
	}
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:   "sqlite",
		SQLiteURL: "file:" + filepath.ToSlash(dir) + "/",
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start ferretdb: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	fd := &FerretDB{dir: dir, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(fd.done)
		_ = f.Run(ctx)
	}()
	// MongoDBURI blocks until the listener is bound.
	fd.uri = f.MongoDBURI()
	return fd, nil
}

// URI is the mongodb:// address of the server.
func (f *FerretDB) URI() string { return f.uri }

// Stop shuts the server down and removes its files.
func (f *FerretDB) Stop() {
	f.cancel()
	<-f.done
	os.RemoveAll(f.dir)
}

var (
	sharedFerret     *FerretDB
	sharedFerretErr  error
	sharedFerretOnce sync.Once
)

// SharedFerretDB returns one FerretDB per test process, started on first
// use. It lives until the process exits; callers isolate themselves by
// database name.
func SharedFerretDB() (*FerretDB, error) {
	sharedFerretOnce.Do(func() { sharedFerret, sharedFerretErr = StartFerretDB() })
	return sharedFerret, sharedFerretErr
}
