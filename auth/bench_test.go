package auth

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkAdminLogin measures a login with the default argon2id cost
// (DefaultPasswordParams): the figure behind the choice of parameters.
func BenchmarkAdminLogin(b *testing.B) {
	for _, c := range []struct {
		name  string
		email string
	}{{"case=known", "ops@example.com"}, {"case=unknown", "nobody@example.com"}} {
		b.Run(c.name, func(b *testing.B) {
			s, _, _ := testService(b, Config{Password: DefaultPasswordParams})
			ctx := context.Background()
			if _, err := s.CreateAdmin(ctx, "ops@example.com", testPassword, RoleDeveloper); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				_, _ = s.AdminLogin(ctx, c.email, testPassword)
			}
		})
	}
}

func BenchmarkResolveAppKey(b *testing.B) {
	for _, ttl := range []time.Duration{10 * time.Second, -1} {
		b.Run(fmt.Sprintf("cache=%v", ttl > 0), func(b *testing.B) {
			s, _, _ := testService(b, Config{KeyCacheTTL: ttl})
			ak, err := s.CreateApp(context.Background(), "bench")
			if err != nil {
				b.Fatal(err)
			}
			key := ak.Environments[0].AppKey
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.ResolveAppKey(context.Background(), key); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCheckServerKey(b *testing.B) {
	s, _, _ := testService(b, Config{})
	ak, err := s.CreateApp(context.Background(), "bench")
	if err != nil {
		b.Fatal(err)
	}
	env := ak.Environments[0]
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if !s.CheckServerKey(context.Background(), env.Environment, env.ServerKey) {
			b.Fatal("refused")
		}
	}
}
