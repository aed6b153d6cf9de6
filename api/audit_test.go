package api

import "testing"

func TestAuditedPrefix(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ path, want string }{
		{"/v1", "/v1"},
		{"/v1/", "/v1"},
		{"/v1/auth/me", "/v1"},
		{"/v10/x", ""},
		{"/v", ""},
		{"/admin/api", "/admin/api"},
		{"/admin/api/apps", "/admin/api"},
		{"/admin/apix", ""},
		{"/admin", ""},
		{"/healthz", ""},
		{"", ""},
	} {
		if got := auditedPrefix(tt.path); got != tt.want {
			t.Errorf("auditedPrefix(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}
