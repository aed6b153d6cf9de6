package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

const testPassword = "a long enough password"

func TestNormalizeEmail(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, want string // want "" means invalid
	}{
		{"admin@example.com", "admin@example.com"},
		{"  Admin@Example.COM \n", "admin@example.com"},
		{"first.last+tag@sub.example.co.uk", "first.last+tag@sub.example.co.uk"},
		{"ops@localhost", "ops@localhost"},
		{"o'neil_{x}@xn--bcher-kva.example", "o'neil_{x}@xn--bcher-kva.example"},
		{"", ""},
		{"   ", ""},
		{"no-at-sign", ""},
		{"two@@example.com", ""},
		{"a@b@example.com", ""},
		{"@example.com", ""},
		{"admin@", ""},
		{"with space@example.com", ""},
		{"tab\t@example.com", ""},
		{".lead@example.com", ""},
		{"trail.@example.com", ""},
		{"dou..ble@example.com", ""},
		{"quo\"te@example.com", ""},
		{"<admin@example.com>", ""},
		{"admin@exa_mple.com", ""},
		{"admin@-example.com", ""},
		{"admin@example-.com", ""},
		{"admin@example..com", ""},
		{"admin@example.com.", ""},
		{"admin@exampl\u212a.com", ""}, // Kelvin sign lower-cases to 'k'
		{"ädmin@example.com", ""},
		{"admin@bücher.example", ""},
		{strings.Repeat("a", 65) + "@example.com", ""},
		{strings.Repeat("a", 64) + "@example.com", strings.Repeat("a", 64) + "@example.com"},
		{"a@" + strings.Repeat("b", 64) + ".com", ""},
		{"a@" + strings.Repeat(strings.Repeat("b", 60)+".", 5) + "com", ""}, // over 254 characters
	}
	for _, c := range cases {
		got, err := NormalizeEmail(c.in)
		if c.want == "" {
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("NormalizeEmail(%q) = %q, %v; want ErrInvalid", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"admin@example.com", " A@B.C ", "a@b@c", "\u212a@k", "@", "a@-b", "x@y..z", "ä@b.c", "a@b."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := NormalizeEmail(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if got != strings.ToLower(strings.TrimSpace(s)) {
			t.Fatalf("%q normalised to %q: more than trim and lower-case", s, got)
		}
		if again, err := NormalizeEmail(got); err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q, %v", got, again, err)
		}
		if len(got) > 254 || strings.Count(got, "@") != 1 || strings.ContainsAny(got, " \t\r\n\"<>") {
			t.Fatalf("accepted %q", got)
		}
		for _, r := range got {
			if r >= 0x7f || r >= 'A' && r <= 'Z' {
				t.Fatalf("accepted non-ASCII or upper case in %q", got)
			}
		}
	})
}

func TestCreateAdmin(t *testing.T) {
	t.Parallel()
	s, db, _ := testService(t, Config{})
	ctx := context.Background()
	cases := []struct {
		name, email, password, role string
		want                        error
	}{
		{"bad email", "not-an-email", testPassword, RoleDeveloper, ErrInvalid},
		{"bad role", "a@example.com", testPassword, "root", ErrInvalid},
		{"empty role", "a@example.com", testPassword, "", ErrInvalid},
		{"weak password", "a@example.com", "short", RoleDeveloper, ErrWeakPassword},
		{"password is the email", "longer.address@example.com", "Longer.Address@example.com", RoleDeveloper, ErrWeakPassword},
	}
	for _, c := range cases {
		if _, err := s.CreateAdmin(ctx, c.email, c.password, c.role); !errors.Is(err, c.want) {
			t.Errorf("%s: CreateAdmin = %v, want %v", c.name, err, c.want)
		}
	}
	if n, err := db.Collection(collAdmins).Count(ctx, nil); err != nil || n != 0 {
		t.Fatalf("refused admins were stored: %d, %v", n, err)
	}

	a, err := s.CreateAdmin(ctx, "  Ops@Example.com ", testPassword, RoleOwner)
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == "" || a.Email != "ops@example.com" || a.Role != RoleOwner || a.CreatedAt.IsZero() {
		t.Fatalf("CreateAdmin = %+v", a)
	}
	out, _ := json.Marshal(a)
	if strings.Contains(string(out), "argon2") || strings.Contains(string(out), "assword") {
		t.Fatalf("admin JSON carries the hash: %s", out)
	}
	d, err := db.Collection(collAdmins).Get(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if h := docString(d, fieldPasswordHash); !strings.HasPrefix(h, "$argon2id$") || strings.Contains(h, testPassword) {
		t.Fatalf("stored hash %q", h)
	}

	for _, dup := range []string{"ops@example.com", "OPS@EXAMPLE.COM", " Ops@example.Com"} {
		if _, err := s.CreateAdmin(ctx, dup, testPassword, RoleDeveloper); !errors.Is(err, ErrExists) {
			t.Errorf("duplicate %q: CreateAdmin = %v, want ErrExists", dup, err)
		}
	}
	if _, err := s.CreateAdmin(ctx, "second@example.com", testPassword, RoleDeveloper); err != nil {
		t.Errorf("second admin: %v", err)
	}
}

func TestBootstrapAdmin(t *testing.T) {
	t.Parallel()
	s, db, _ := testService(t, Config{})
	ctx := context.Background()
	if _, err := s.BootstrapAdmin(ctx, "root@example.com", "short"); !errors.Is(err, ErrWeakPassword) {
		t.Fatalf("weak bootstrap password: %v", err)
	}
	created, err := s.BootstrapAdmin(ctx, "root@example.com", testPassword)
	if err != nil || !created {
		t.Fatalf("first bootstrap = %v, %v", created, err)
	}
	for _, email := range []string{"root@example.com", "other@example.com"} {
		created, err = s.BootstrapAdmin(ctx, email, testPassword+" changed")
		if err != nil || created {
			t.Fatalf("bootstrap %s again = %v, %v; want a no-op", email, created, err)
		}
	}
	if n, err := db.Collection(collAdmins).Count(ctx, nil); err != nil || n != 1 {
		t.Fatalf("%d admins after bootstraps, %v", n, err)
	}
	// The owner keeps the first password.
	tok, err := s.AdminLogin(ctx, "root@example.com", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := s.VerifyAdminToken(ctx, tok)
	if err != nil || claims.Role != RoleOwner {
		t.Fatalf("bootstrap admin claims = %+v, %v", claims, err)
	}
}

func TestBootstrapAdminConcurrent(t *testing.T) {
	t.Parallel()
	s, db, _ := testService(t, Config{})
	ctx := context.Background()
	const n = 4
	created := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			created[i], errs[i] = s.BootstrapAdmin(ctx, "root@example.com", testPassword)
		}()
	}
	wg.Wait()
	count := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("bootstrap %d: %v", i, errs[i])
		}
		if created[i] {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("%d bootstraps report creating the owner, want 1", count)
	}
	if n, err := db.Collection(collAdmins).Count(ctx, nil); err != nil || n != 1 {
		t.Fatalf("%d admins, %v", n, err)
	}
}

func TestAdminLogin(t *testing.T) {
	t.Parallel()
	s, _, _ := testService(t, Config{})
	ctx := context.Background()
	a, err := s.CreateAdmin(ctx, "ops@example.com", testPassword, RoleDeveloper)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, email, password string
		ok                    bool
	}{
		{"right", "ops@example.com", testPassword, true},
		{"email case and space", "  OPS@example.COM", testPassword, true},
		{"wrong password", "ops@example.com", testPassword + "!", false},
		{"password case", "ops@example.com", strings.ToUpper(testPassword), false},
		{"empty password", "ops@example.com", "", false},
		{"unknown email", "nobody@example.com", testPassword, false},
		{"malformed email", "nobody", testPassword, false},
		{"over-long password", "ops@example.com", testPassword + strings.Repeat("x", MaxPasswordBytes), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tok, err := s.AdminLogin(ctx, c.email, c.password)
			if !c.ok {
				if err != ErrBadCredentials || tok != "" {
					t.Fatalf("AdminLogin = %q, %v; want exactly ErrBadCredentials", tok, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			claims, err := s.VerifyAdminToken(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			if claims.AdminID != a.ID || claims.Email != a.Email || claims.Role != RoleDeveloper {
				t.Fatalf("claims %+v for admin %+v", claims, a)
			}
		})
	}
}

// TestAdminLoginTiming checks that an unknown email costs a password hash,
// like a wrong password: without the dummy hash it would answer about a
// hundred times faster. It is not parallel, to measure on a quiet process.
// TestAdminLoginCostsAlike: a wrong password, an unknown email and an
// over-long password each cost one password key derivation under the
// configured parameters, so that how long a refusal takes reveals
// nothing about which emails exist. It counts the derivations instead of
// timing them: what the answer costs is the same work, whatever the
// machine is doing.
func TestAdminLoginCostsAlike(t *testing.T) {
	params := PasswordParams{Memory: 256, Time: 2, Threads: 1}
	s, _, _ := testService(t, Config{Password: params})
	var mu sync.Mutex
	var got []PasswordParams
	s.derived = func(p PasswordParams) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, p)
	}
	ctx := context.Background()
	if _, err := s.CreateAdmin(ctx, "ops@example.com", testPassword, RoleDeveloper); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, email, password string }{
		{"wrong password", "ops@example.com", "wrong password!!"},
		{"unknown email", "nobody@example.com", "wrong password!!"},
		{"malformed email", "not an email", "wrong password!!"},
		{"over-long password", "ops@example.com", strings.Repeat("x", MaxPasswordBytes+1)},
	}
	for _, tt := range tests {
		mu.Lock()
		got = nil
		mu.Unlock()
		if _, err := s.AdminLogin(ctx, tt.email, tt.password); err != ErrBadCredentials {
			t.Fatalf("%s: AdminLogin = %v, want ErrBadCredentials", tt.name, err)
		}
		mu.Lock()
		if len(got) != 1 || got[0] != params {
			t.Errorf("%s: derived %v, want one derivation under %v", tt.name, got, params)
		}
		mu.Unlock()
	}
}

func TestAdminLoginUpgradesHash(t *testing.T) {
	t.Parallel()
	old, db, clock := testService(t, Config{})
	ctx := context.Background()
	a, err := old.CreateAdmin(ctx, "ops@example.com", testPassword, RoleDeveloper)
	if err != nil {
		t.Fatal(err)
	}
	stronger := NewService(db, testKeyring(t), Config{
		Password: PasswordParams{Memory: 128, Time: 2, Threads: 1}, Now: clock.Now, Logger: old.log,
	})
	if _, err := stronger.AdminLogin(ctx, "ops@example.com", testPassword); err != nil {
		t.Fatal(err)
	}
	d, err := db.Collection(collAdmins).Get(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if h := docString(d, fieldPasswordHash); !strings.HasPrefix(h, "$argon2id$v=19$m=128,t=2,p=1$") {
		t.Fatalf("hash not upgraded: %q", h)
	}
	// Both the upgraded hash and the old service still log in.
	for _, svc := range []*Service{stronger, old} {
		if _, err := svc.AdminLogin(ctx, "ops@example.com", testPassword); err != nil {
			t.Fatalf("login after upgrade: %v", err)
		}
	}
}

func TestAdminLoginMalformedStoredHash(t *testing.T) {
	t.Parallel()
	s, db, _ := testService(t, Config{})
	ctx := context.Background()
	a, err := s.CreateAdmin(ctx, "ops@example.com", testPassword, RoleDeveloper)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection(collAdmins).Update(ctx, a.ID, 0, store.Update{
		Set: map[string]any{fieldPasswordHash: "$argon2id$v=19$m=99999999,t=1,p=1$AAAA$AAAA"},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AdminLogin(ctx, "ops@example.com", testPassword); err != ErrBadCredentials {
		t.Fatalf("login with a corrupt hash = %v, want ErrBadCredentials", err)
	}
}

func TestLegacyAdminRoleReadsAsDeveloper(t *testing.T) {
	t.Parallel()
	s, db, _ := testService(t, Config{})
	ctx := context.Background()
	a, err := s.CreateAdmin(ctx, "old@example.com", testPassword, RoleDeveloper)
	if err != nil {
		t.Fatal(err)
	}
	// An admin stored before the developer and viewer roles existed.
	d, err := db.Collection(collAdmins).Get(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Collection(collAdmins).Update(ctx, a.ID, store.DocVersion(d), store.Update{Set: map[string]any{fieldRole: "admin"}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetAdmin(ctx, a.ID)
	if err != nil || got.Role != RoleDeveloper {
		t.Fatalf("GetAdmin = %+v, %v; want role developer", got, err)
	}
	tok, err := s.AdminLogin(ctx, "old@example.com", testPassword)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := s.VerifyAdminToken(ctx, tok)
	if err != nil || claims.Role != RoleDeveloper {
		t.Fatalf("VerifyAdminToken = %+v, %v", claims, err)
	}
	if _, err := s.CreateAdmin(ctx, "new@example.com", testPassword, "admin"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("the legacy role can still be given: %v", err)
	}
	if _, err := s.SetAdminRole(ctx, a.ID, "admin"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("SetAdminRole(admin) = %v, want ErrInvalid", err)
	}
}

func TestAdminAccounts(t *testing.T) {
	t.Parallel()
	s, _, clock := testService(t, Config{})
	ctx := context.Background()
	owner, err := s.CreateAdmin(ctx, "owner@example.com", testPassword, RoleOwner)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	dev, err := s.CreateAdmin(ctx, "dev@example.com", testPassword, RoleDeveloper)
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.ListAdmins(ctx)
	if err != nil || len(list) != 2 || list[0].ID != owner.ID || list[1].ID != dev.ID {
		t.Fatalf("ListAdmins = %+v, %v", list, err)
	}

	// The only owner can be neither demoted nor deleted.
	if _, err := s.SetAdminRole(ctx, owner.ID, RoleDeveloper); !errors.Is(err, ErrLastOwner) {
		t.Fatalf("demote the last owner: %v", err)
	}
	if err := s.DeleteAdmin(ctx, owner.ID); !errors.Is(err, ErrLastOwner) {
		t.Fatalf("delete the last owner: %v", err)
	}
	if got, _ := s.GetAdmin(ctx, owner.ID); got.Role != RoleOwner {
		t.Fatalf("refused demotion changed the owner: %+v", got)
	}

	// With a second owner the first can go.
	if got, err := s.SetAdminRole(ctx, dev.ID, RoleOwner); err != nil || got.Role != RoleOwner {
		t.Fatalf("promote: %+v, %v", got, err)
	}
	if got, err := s.SetAdminRole(ctx, owner.ID, RoleViewer); err != nil || got.Role != RoleViewer {
		t.Fatalf("demote with another owner: %+v, %v", got, err)
	}
	if got, err := s.SetAdminRole(ctx, owner.ID, RoleViewer); err != nil || got.Role != RoleViewer {
		t.Fatalf("same role again: %+v, %v", got, err)
	}
	if err := s.DeleteAdmin(ctx, dev.ID); !errors.Is(err, ErrLastOwner) {
		t.Fatalf("delete the now last owner: %v", err)
	}
	if err := s.DeleteAdmin(ctx, owner.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetAdmin(ctx, owner.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted admin: %v", err)
	}

	for _, id := range []string{"", "nope", strings.Repeat("x", 100), "../x", owner.ID} {
		if _, err := s.SetAdminRole(ctx, id, RoleViewer); !errors.Is(err, ErrNotFound) {
			t.Errorf("SetAdminRole(%q) = %v, want ErrNotFound", id, err)
		}
		if err := s.DeleteAdmin(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("DeleteAdmin(%q) = %v, want ErrNotFound", id, err)
		}
	}
	if _, err := s.SetAdminRole(ctx, dev.ID, "root"); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad role: %v", err)
	}
}

// TestConcurrentOwnerDemotionsKeepAnOwner demotes one and deletes the
// other of two owners at once, again and again: whoever wins, an owner
// always remains.
func TestConcurrentOwnerDemotionsKeepAnOwner(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for round := range 10 {
		s, _, _ := testService(t, Config{})
		var ids [2]string
		for i := range ids {
			a, err := s.CreateAdmin(ctx, fmt.Sprintf("o%d@example.com", i), testPassword, RoleOwner)
			if err != nil {
				t.Fatal(err)
			}
			ids[i] = a.ID
		}
		var wg sync.WaitGroup
		for i, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var err error
				if i == 0 {
					_, err = s.SetAdminRole(ctx, id, RoleViewer)
				} else {
					err = s.DeleteAdmin(ctx, id)
				}
				if err != nil && !errors.Is(err, ErrLastOwner) {
					t.Errorf("round %d: %v", round, err)
				}
			}()
		}
		wg.Wait()
		if n, err := s.countOwners(ctx); err != nil || n < 1 {
			t.Fatalf("round %d: %d owners left, %v", round, n, err)
		}
	}
}
