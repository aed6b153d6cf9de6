package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// writer runs the writes of one database on its single connection and
// groups the writes that arrive while a transaction is running into the
// next one (group commit): each runs in a savepoint of its own, so that a
// failing write rolls back alone, and the batch shares one BEGIN
// IMMEDIATE … COMMIT and one WAL append.
//
// There is no writer goroutine: a caller that finds the writer free
// becomes the leader, runs one batch from the head of the queue, and hands
// the writer on. Every write takes its _seq inside the transaction that
// commits it and transactions never overlap, so commit order is _seq
// order.
type writer struct {
	pool  *sql.DB    // of one connection
	conn  *sql.Conn  // that connection, held for good
	stmts *stmtCache // prepared on conn, reused across transactions
	max   int
	wrap  func(error) error // maps driver errors onto the store's
	token chan struct{}     // held by the leader

	mu    sync.Mutex
	queue []*writeOp
}

// writeOp is one write waiting for, or running in, a batch.
type writeOp struct {
	ctx   context.Context
	alone bool // schema changes run in a transaction of their own
	fn    func(w *wtx) error
	err   error
	done  chan struct{}
}

// wtx is what one write sees of its batch's transaction.
type wtx struct {
	// ctx is the writer's own context: its commit hook and values. The
	// statements run without its cancellation, which would otherwise
	// abort the transaction the whole batch shares.
	ctx     context.Context
	b       *batch
	after   []func() // run after a successful commit
	created []string // tables this write created
}

type batch struct {
	w       *writer
	created map[string]bool // tables created in this transaction
	used    []*cachedStmt
}

// newWriter takes pool's connection for good.
func newWriter(ctx context.Context, pool *sql.DB, stmtCap, maxBatch int, wrap func(error) error) (*writer, error) {
	conn, err := pool.Conn(ctx)
	if err != nil {
		return nil, err
	}
	return &writer{pool: pool, conn: conn, stmts: newStmtCache(conn.PrepareContext, stmtCap),
		max: maxBatch, wrap: wrap, token: make(chan struct{}, 1)}, nil
}

// close releases the connection; the caller ensures no write is running
// or closes the pool under it.
func (wr *writer) close() {
	wr.stmts.close()
	wr.conn.Close()
	wr.pool.Close()
}

// exec runs a statement of transaction control on the connection,
// prepared once.
func (wr *writer) exec(query string) error {
	cs, err := wr.stmts.acquire(context.Background(), query)
	if err != nil {
		return err
	}
	defer wr.stmts.release(cs)
	_, err = cs.stmt.Exec()
	return err
}

// do runs fn in a write transaction and returns its error, or the
// commit's. alone keeps fn out of a shared batch (schema changes).
func (wr *writer) do(ctx context.Context, alone bool, fn func(w *wtx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := &writeOp{ctx: ctx, alone: alone, fn: fn, done: make(chan struct{})}
	wr.mu.Lock()
	wr.queue = append(wr.queue, op)
	wr.mu.Unlock()
	for {
		select {
		case <-op.done:
			return op.err
		case wr.token <- struct{}{}:
			wr.run(wr.take())
			<-wr.token
		case <-ctx.Done():
			if wr.withdraw(op) {
				return ctx.Err()
			}
			<-op.done // already running in a batch
			return op.err
		}
	}
}

// take removes the next batch from the queue: the head write alone when
// it must be, else up to max writes that need not.
func (wr *writer) take() []*writeOp {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	n := 0
	for n < len(wr.queue) && n < wr.max {
		if wr.queue[n].alone {
			if n == 0 {
				n = 1
			}
			break
		}
		n++
	}
	ops := make([]*writeOp, n)
	copy(ops, wr.queue[:n])
	wr.queue = append(wr.queue[:0], wr.queue[n:]...)
	return ops
}

// withdraw removes a write that has not started; it reports whether it
// was still queued.
func (wr *writer) withdraw(op *writeOp) bool {
	wr.mu.Lock()
	defer wr.mu.Unlock()
	for i, q := range wr.queue {
		if q == op {
			wr.queue = append(wr.queue[:i], wr.queue[i+1:]...)
			return true
		}
	}
	return false
}

// run executes one batch and reports to every write in it.
func (wr *writer) run(ops []*writeOp) {
	if len(ops) == 0 {
		return
	}
	began := false
	finished := false
	defer func() {
		if !finished { // a write panicked: fail the others, then go on panicking
			if began {
				wr.exec("ROLLBACK")
			}
			for _, op := range ops {
				if op.err == nil {
					op.err = fmt.Errorf("sqlite: write batch aborted by a panic")
				}
			}
		}
		for _, op := range ops {
			close(op.done)
		}
	}()
	if err := wr.exec("BEGIN IMMEDIATE"); err != nil {
		for _, op := range ops {
			op.err = wr.wrap(err)
		}
		finished = true
		return
	}
	began = true
	b := &batch{w: wr, created: map[string]bool{}}
	defer b.releaseStmts()
	ok, err := b.runAll(ops)
	switch {
	case err != nil || len(ok) == 0: // doomed, or every write failed or was withdrawn
		if rerr := wr.exec("ROLLBACK"); rerr != nil && err == nil {
			err = rerr
		}
	default:
		if err = wr.exec("COMMIT"); err != nil {
			wr.exec("ROLLBACK")
		}
	}
	if err != nil { // nothing committed: every write not failed yet fails now
		for _, op := range ops {
			if op.err == nil {
				op.err = wr.wrap(err)
			}
		}
		finished = true
		return
	}
	for _, w := range ok {
		for _, f := range w.after {
			f()
		}
	}
	finished = true
}

type doneWrite struct {
	*wtx
	op *writeOp
}

// runAll runs each write of the batch, in a savepoint when the batch has
// more than one. It returns the writes that succeeded, or an error that
// dooms the whole transaction.
func (b *batch) runAll(ops []*writeOp) ([]doneWrite, error) {
	single := len(ops) == 1
	var ok []doneWrite
	for _, op := range ops {
		if err := op.ctx.Err(); err != nil {
			op.err = err
			continue
		}
		w := &wtx{ctx: op.ctx, b: b}
		if single {
			if op.err = op.fn(w); op.err != nil {
				return nil, nil // nothing succeeded: the caller rolls back
			}
			return []doneWrite{{w, op}}, nil
		}
		if err := b.w.exec("SAVEPOINT sb_write"); err != nil {
			op.err = b.w.wrap(err)
			return ok, err
		}
		if op.err = op.fn(w); op.err != nil {
			if err := b.w.exec("ROLLBACK TO sb_write"); err != nil {
				return ok, err
			}
			for _, t := range w.created {
				delete(b.created, t)
			}
		} else {
			ok = append(ok, doneWrite{w, op})
		}
		if err := b.w.exec("RELEASE sb_write"); err != nil {
			return ok, err
		}
	}
	return ok, nil
}

func (b *batch) releaseStmts() {
	for _, cs := range b.used {
		b.w.stmts.release(cs)
	}
}

// stmt returns the cached prepared statement for query, valid until the
// batch ends.
func (w *wtx) stmt(query string) (*sql.Stmt, error) {
	cs, err := w.b.w.stmts.acquire(context.Background(), query)
	if err != nil {
		return nil, err
	}
	w.b.used = append(w.b.used, cs)
	return cs.stmt, nil
}

func (w *wtx) exec(query string, args ...any) (sql.Result, error) {
	st, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.Exec(args...)
}

func (w *wtx) queryRow(query string, args ...any) (*sql.Row, error) {
	st, err := w.stmt(query)
	if err != nil {
		return nil, err
	}
	return st.QueryRow(args...), nil
}

// execScript runs statements that are not worth caching (schema changes).
func (w *wtx) execScript(query string, args ...any) error {
	_, err := w.b.w.conn.ExecContext(context.Background(), query, args...)
	return err
}

// onCommit runs f once the write has committed.
func (w *wtx) onCommit(f func()) { w.after = append(w.after, f) }
