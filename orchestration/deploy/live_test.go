package deploy_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/orchestration/deploy"
	"github.com/skybridgehq/skybridge/orchestration/deploy/deploytest"
	"github.com/skybridgehq/skybridge/store"
)

// TestLeaseAcrossSwap: a lease taken before a deploy keeps its plan open
// until Release; new leases get the new plan; the old plan is closed
// exactly once, after the release.
func TestLeaseAcrossSwap(t *testing.T) {
	onStores(t, func(t *testing.T, sys store.DB) {
		ctx := context.Background()
		n := newNode(t, sys)
		if _, err := n.svc.Deploy(ctx, "app1", "dev", map[string]string{"a.yaml": flow("a", "v: 1\n")}, "a"); err != nil {
			t.Fatal(err)
		}
		held, err := n.svc.Acquire(ctx, "app1", "dev")
		if err != nil {
			t.Fatal(err)
		}
		old := held.Plan().(*deploytest.Plan)
		if held.Version() != 1 {
			t.Fatalf("leased version %d", held.Version())
		}
		if _, err := n.svc.Deploy(ctx, "app1", "dev", map[string]string{"a.yaml": flow("a", "v: 2\n")}, "a"); err != nil {
			t.Fatal(err)
		}
		fresh, err := n.svc.Acquire(ctx, "app1", "dev")
		if err != nil {
			t.Fatal(err)
		}
		if fresh.Version() != 2 || fresh.Plan() == held.Plan() {
			t.Errorf("a lease after the deploy got version %d", fresh.Version())
		}
		if old.Closes() != 0 {
			t.Fatalf("the old plan was closed %d times while leased", old.Closes())
		}
		if held.Version() != 1 || held.Plan().(*deploytest.Plan) != old {
			t.Errorf("the held lease changed under its holder")
		}
		held.Release()
		if old.Closes() != 1 {
			t.Errorf("after release the old plan was closed %d times, want 1", old.Closes())
		}
		held.Release() // a second release is a no-op
		fresh.Release()
		if old.Closes() != 1 || fresh.Plan().(*deploytest.Plan).Closes() != 0 {
			t.Errorf("closes: old %d, live %d", old.Closes(), fresh.Plan().(*deploytest.Plan).Closes())
		}
		// Closing the service closes the live plan once its lease ends.
		last, err := n.svc.Acquire(ctx, "app1", "dev")
		if err != nil {
			t.Fatal(err)
		}
		if err := n.svc.Close(); err != nil {
			t.Fatal(err)
		}
		live := last.Plan().(*deploytest.Plan)
		if live.Closes() != 0 {
			t.Errorf("Close closed a leased plan")
		}
		last.Release()
		if live.Closes() != 1 {
			t.Errorf("after Close and release the live plan was closed %d times", live.Closes())
		}
		if _, err := n.svc.Acquire(ctx, "app1", "dev"); !errors.Is(err, deploy.ErrClosed) {
			t.Errorf("Acquire after Close = %v", err)
		}
	})
}

// TestLeasesUnderConcurrentSwaps hammers Acquire/Release while versions
// go live: every lease sees an open plan, and every replaced plan ends
// closed exactly once.
func TestLeasesUnderConcurrentSwaps(t *testing.T) {
	onStores(t, func(t *testing.T, sys store.DB) {
		ctx := context.Background()
		n := newNode(t, sys)
		if _, err := n.svc.Deploy(ctx, "app1", "dev", map[string]string{"a.yaml": flow("a", "v: 0\n")}, "a"); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var mu sync.Mutex
		var bad []string
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					l, err := n.svc.Acquire(ctx, "app1", "dev")
					if err != nil {
						mu.Lock()
						bad = append(bad, err.Error())
						mu.Unlock()
						return
					}
					if c := l.Plan().(*deploytest.Plan).Closes(); c != 0 {
						mu.Lock()
						bad = append(bad, "leased a closed plan")
						mu.Unlock()
					}
					l.Release()
				}
			}()
		}
		for v := 1; v <= 10; v++ {
			if _, err := n.svc.Deploy(ctx, "app1", "dev", map[string]string{"a.yaml": flow("a", fmt.Sprintf("v: %d\n", v))}, "a"); err != nil {
				t.Error(err)
			}
		}
		close(stop)
		wg.Wait()
		if len(bad) > 0 {
			t.Fatalf("leases: %v", bad[:min(len(bad), 5)])
		}
		plans := n.builder.Plans()
		for i, p := range plans {
			want := 1
			if i == len(plans)-1 {
				want = 0
			}
			if p.Closes() != want {
				t.Errorf("plan of version %d closed %d times, want %d", p.Version, p.Closes(), want)
			}
		}
	})
}

// TestRefreshSeesOtherNodesDeploy: a second node picks up what the first
// deployed on its first Acquire, and a newer version once its refresh
// interval has passed — not before.
func TestRefreshSeesOtherNodesDeploy(t *testing.T) {
	onStores(t, func(t *testing.T, sys store.DB) {
		ctx := context.Background()
		a, b := newNode(t, sys), newNode(t, sys)
		if _, err := b.svc.Acquire(ctx, "app1", "dev"); !errors.Is(err, deploy.ErrNoDeployment) {
			t.Fatalf("Acquire before any deploy = %v", err)
		}
		b.clock.Advance(2 * deploy.DefaultRefreshInterval)
		if _, err := a.svc.Deploy(ctx, "app1", "dev", map[string]string{"a.yaml": flow("a", "v: 1\n")}, "a"); err != nil {
			t.Fatal(err)
		}
		if v, _ := b.live(t, "app1", "dev"); v != 1 {
			t.Fatalf("node b serves version %d", v)
		}
		if _, err := a.svc.Deploy(ctx, "app1", "dev", map[string]string{"a.yaml": flow("a", "v: 2\n")}, "a"); err != nil {
			t.Fatal(err)
		}
		if v, _ := b.live(t, "app1", "dev"); v != 1 {
			t.Errorf("node b refreshed within its interval: version %d", v)
		}
		b.clock.Advance(deploy.DefaultRefreshInterval)
		v, plan := b.live(t, "app1", "dev")
		if v != 2 || !strings.Contains(plan.Files["a.yaml"], "v: 2") {
			t.Errorf("node b after its interval serves version %d", v)
		}
		// Variables changed on a: b rebuilds the same version with them.
		if _, err := a.svc.SetVariables(ctx, "app1", "dev", map[string]any{"REGION": "eu"}); err != nil {
			t.Fatal(err)
		}
		b.clock.Advance(deploy.DefaultRefreshInterval)
		if v, plan := b.live(t, "app1", "dev"); v != 2 || plan.Env.Vars["REGION"] != "eu" {
			t.Errorf("node b after a variable change: v%d vars %v", v, plan.Env.Vars)
		}
	})
}

// TestRefreshBuildFailureKeepsOldPlan: when a node cannot build the new
// live version, it keeps serving the old plan and logs why, then picks
// the version up once it builds.
func TestRefreshBuildFailureKeepsOldPlan(t *testing.T) {
	onStores(t, func(t *testing.T, sys store.DB) {
		ctx := context.Background()
		a, b := newNode(t, sys), newNode(t, sys)
		if _, err := a.svc.Deploy(ctx, "app1", "dev", map[string]string{"a.yaml": flow("a", "v: 1\n")}, "a"); err != nil {
			t.Fatal(err)
		}
		if v, _ := b.live(t, "app1", "dev"); v != 1 {
			t.Fatalf("node b serves %d", v)
		}
		var mu sync.Mutex
		broken := true
		b.builder.Fail = func(_ deploy.Env, version int) error {
			mu.Lock()
			defer mu.Unlock()
			if broken && version == 2 {
				return errors.New("connector crm unreachable")
			}
			return nil
		}
		if _, err := a.svc.Deploy(ctx, "app1", "dev", map[string]string{"a.yaml": flow("a", "v: 2\n")}, "a"); err != nil {
			t.Fatal(err)
		}
		b.clock.Advance(deploy.DefaultRefreshInterval)
		if v, plan := b.live(t, "app1", "dev"); v != 1 || plan.Closes() != 0 {
			t.Errorf("after a failed refresh node b serves v%d (closed %d)", v, plan.Closes())
		}
		var logged bool
		for _, line := range strings.Split(b.log.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(rec["msg"].(string), "refresh: build") &&
				strings.Contains(rec["err"].(string), "connector crm unreachable") {
				logged = true
			}
		}
		if !logged {
			t.Errorf("the failed refresh was not logged: %s", b.log.String())
		}
		mu.Lock()
		broken = false
		mu.Unlock()
		b.clock.Advance(deploy.DefaultRefreshInterval)
		if v, _ := b.live(t, "app1", "dev"); v != 2 {
			t.Errorf("node b did not recover: v%d", v)
		}
	})
}

// TestAcquireWaitsForFirstBuild: concurrent first Acquires on a node all
// get the plan (one builds it, the others wait for it, not an error).
func TestAcquireWaitsForFirstBuild(t *testing.T) {
	onStores(t, func(t *testing.T, sys store.DB) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		a, b := newNode(t, sys), newNode(t, sys)
		if _, err := a.svc.Deploy(ctx, "app1", "dev", map[string]string{"a.yaml": flow("a", "v: 1\n")}, "a"); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 16)
		for i := 0; i < 16; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, err := b.svc.Acquire(ctx, "app1", "dev")
				if err != nil {
					errs <- err
					return
				}
				l.Release()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("first Acquire: %v", err)
		}
		if n := len(b.builder.Plans()); n != 1 {
			t.Errorf("node b built %d plans, want 1", n)
		}
	})
}
