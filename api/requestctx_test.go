package api

import (
	"context"
	"errors"
	"testing"
	"time"
)

type parentKey struct{}

// newRequestCtx is a requestCtx over parent with a deadline d from now (none
// for d == 0), as RequestID and Timeout build it.
func newRequestCtx(parent context.Context, d time.Duration) (*requestState, context.Context) {
	st := &requestState{id: "test"}
	st.ctx.Context, st.ctx.st = parent, st
	if d != 0 {
		st.ctx.deadline = time.Now().Add(d)
	}
	return st, &st.ctx
}

func TestRequestCtxValues(t *testing.T) {
	t.Parallel()
	parent := context.WithValue(t.Context(), parentKey{}, "p")
	st, ctx := newRequestCtx(parent, time.Hour)
	if requestStateFrom(ctx) != st || RequestIDFrom(ctx) != "test" {
		t.Error("the request state is not found")
	}
	if ctx.Value(parentKey{}) != "p" {
		t.Error("the parent's values are lost before arming")
	}
	_ = ctx.Done() // arms
	if ctx.Value(parentKey{}) != "p" || requestStateFrom(ctx) != st {
		t.Error("values are lost after arming")
	}
	st.ctx.release()
}

func TestRequestCtxDeadline(t *testing.T) {
	t.Parallel()
	t.Run("none", func(t *testing.T) {
		st, ctx := newRequestCtx(t.Context(), 0)
		defer st.ctx.release()
		if _, ok := ctx.Deadline(); ok {
			t.Error("a deadline without Timeout")
		}
		if ctx.Done() != t.Context().Done() {
			t.Error("Done is not the parent's without a deadline")
		}
	})
	t.Run("earlier parent wins", func(t *testing.T) {
		parent, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		st, ctx := newRequestCtx(parent, time.Hour)
		defer st.ctx.release()
		pd, _ := parent.Deadline()
		if d, ok := ctx.Deadline(); !ok || !d.Equal(pd) {
			t.Errorf("deadline %v, want the parent's %v", d, pd)
		}
	})
	t.Run("own", func(t *testing.T) {
		st, ctx := newRequestCtx(t.Context(), time.Hour)
		defer st.ctx.release()
		if d, ok := ctx.Deadline(); !ok || !d.Equal(st.ctx.deadline) {
			t.Errorf("deadline %v, want %v", d, st.ctx.deadline)
		}
		if st.ctx.armed.Load() != nil {
			t.Error("Deadline armed a timer")
		}
	})
}

func TestRequestCtxExpires(t *testing.T) {
	t.Parallel()
	t.Run("Err without Done", func(t *testing.T) {
		st, ctx := newRequestCtx(t.Context(), time.Hour)
		defer st.ctx.release()
		if err := ctx.Err(); err != nil || st.ctx.armed.Load() != nil {
			t.Fatalf("Err = %v before the deadline, armed %v", err, st.ctx.armed.Load() != nil)
		}
		st2, ctx2 := newRequestCtx(t.Context(), time.Millisecond)
		defer st2.ctx.release()
		waitFor(t, func() bool { return errors.Is(ctx2.Err(), context.DeadlineExceeded) })
	})
	t.Run("Done closes", func(t *testing.T) {
		st, ctx := newRequestCtx(t.Context(), 20*time.Millisecond)
		defer st.ctx.release()
		<-ctx.Done()
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Errorf("Err = %v", ctx.Err())
		}
	})
	t.Run("children", func(t *testing.T) {
		st, ctx := newRequestCtx(t.Context(), 20*time.Millisecond)
		defer st.ctx.release()
		child, cancel := context.WithCancel(ctx)
		defer cancel()
		stopped := make(chan struct{})
		context.AfterFunc(ctx, func() { close(stopped) })
		<-child.Done()
		<-stopped
		if !errors.Is(child.Err(), context.DeadlineExceeded) || !errors.Is(context.Cause(child), context.DeadlineExceeded) {
			t.Errorf("child Err = %v, cause %v", child.Err(), context.Cause(child))
		}
	})
	t.Run("parent cancelled", func(t *testing.T) {
		parent, cancel := context.WithCancel(t.Context())
		st, ctx := newRequestCtx(parent, time.Hour)
		defer st.ctx.release()
		child, stop := context.WithCancel(ctx)
		defer stop()
		cancel()
		<-child.Done()
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Errorf("Err = %v, want Canceled", ctx.Err())
		}
	})
}

func TestRequestCtxRelease(t *testing.T) {
	t.Parallel()
	st, ctx := newRequestCtx(t.Context(), time.Hour)
	child, cancel := context.WithCancel(ctx)
	defer cancel()
	st.ctx.release()
	<-child.Done()
	if !errors.Is(child.Err(), context.Canceled) {
		t.Errorf("child Err = %v, want Canceled after release", child.Err())
	}
	// Released unarmed: the server's context answers from then on.
	st2, ctx2 := newRequestCtx(t.Context(), time.Hour)
	st2.ctx.release()
	if ctx2.Done() != t.Context().Done() {
		t.Error("a released context armed a new timer")
	}
}

// waitFor polls cond until it holds, failing the test after 5s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
