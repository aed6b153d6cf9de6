package api

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
)

// adminUser mirrors the user object of the admin answers.
type adminUser struct {
	ID       string   `json:"id"`
	Email    string   `json:"email"`
	Roles    []string `json:"roles"`
	Disabled bool     `json:"disabled"`
}

type adminUserPage struct {
	Items  []adminUser `json:"items"`
	Cursor *string     `json:"cursor"`
}

// runAdminUsers manages users through the admin API: list, search, page,
// roles, disable (sessions refused on the next request, refresh too),
// enable, delete.
func runAdminUsers(t *testing.T, u *userEnv) {
	tok := u.login()
	base := "/admin/api/apps/" + u.app.ID + "/environments/dev/users"
	admin := func(method, path string, body any, status int, out any) {
		t.Helper()
		u.json(request{method: method, path: path, body: body, headers: bearer(tok)}, status, out)
	}

	var sessions []session
	for i := range 5 {
		sessions = append(sessions, u.signup("dev", fmt.Sprintf("user%d@example.com", i), testUserPassword))
	}
	u.signup("stage", "user9@example.com", testUserPassword) // another environment: never listed

	// List, newest first, paged.
	var page adminUserPage
	admin("GET", base+"?limit=2", nil, 200, &page)
	if len(page.Items) != 2 || page.Cursor == nil || page.Items[0].Email != "user4@example.com" {
		t.Fatalf("first page %+v", page)
	}
	seen := len(page.Items)
	for page.Cursor != nil {
		next := adminUserPage{}
		admin("GET", base+"?limit=2&cursor="+url.QueryEscape(*page.Cursor), nil, 200, &next)
		seen += len(next.Items)
		page = next
	}
	if seen != 5 {
		t.Fatalf("paged through %d users, want 5", seen)
	}
	// Search by email prefix (case-insensitive) and by id.
	admin("GET", base+"?search=USER3", nil, 200, &page)
	if len(page.Items) != 1 || page.Items[0].ID != sessions[3].User.ID {
		t.Fatalf("search by email: %+v", page.Items)
	}
	admin("GET", base+"?search="+sessions[1].User.ID, nil, 200, &page)
	if len(page.Items) != 1 || page.Items[0].Email != "user1@example.com" {
		t.Fatalf("search by id: %+v", page.Items)
	}
	admin("GET", base+"?search=user.%2A", nil, 200, &page) // regex characters are literal
	if len(page.Items) != 0 {
		t.Fatalf("search with regex characters matched %+v", page.Items)
	}

	// Roles: set, normalised, filtered on, seen by the user's next request.
	target := sessions[0]
	var got adminUser
	admin("PATCH", base+"/"+target.User.ID, map[string]any{"roles": []string{"editor", "admin", "editor"}}, 200, &got)
	if fmt.Sprint(got.Roles) != "[admin editor]" {
		t.Fatalf("roles %v", got.Roles)
	}
	admin("GET", base+"?role=editor", nil, 200, &page)
	if len(page.Items) != 1 || page.Items[0].ID != target.User.ID {
		t.Fatalf("role filter: %+v", page.Items)
	}
	var me session
	u.expect("dev", "GET", "/v1/auth/me", target.AccessToken, nil, 200, &me.User)
	if fmt.Sprint(me.User.Roles) != "[admin editor]" {
		t.Fatalf("me roles %v", me.User.Roles)
	}
	_, data := u.callWith(bearer(tok), "PATCH", base+"/"+target.User.ID, map[string]any{"roles": []string{"Bad Role"}})
	if p := problemOf(t, data); p.Status != 400 || len(p.Errors) == 0 || p.Errors[0].Field != "roles" {
		t.Fatalf("bad role: %s", data)
	}

	// Disable: the very next request with the access token is refused, and
	// the refresh token is dead too; enabling does not revive the session.
	admin("PATCH", base+"/"+target.User.ID, map[string]any{"disabled": true}, 200, &got)
	if !got.Disabled {
		t.Fatalf("not disabled: %+v", got)
	}
	u.expect("dev", "GET", "/v1/auth/me", target.AccessToken, nil, http.StatusUnauthorized, nil)
	u.expect("dev", "POST", "/v1/auth/refresh", "", map[string]any{"refreshToken": target.RefreshToken}, http.StatusUnauthorized, nil)
	u.expect("dev", "POST", "/v1/auth/login", "", map[string]any{"email": target.User.Email, "password": testUserPassword}, http.StatusUnauthorized, nil)
	admin("GET", base+"?disabled=true", nil, 200, &page)
	if len(page.Items) != 1 || page.Items[0].ID != target.User.ID {
		t.Fatalf("disabled filter: %+v", page.Items)
	}
	admin("PATCH", base+"/"+target.User.ID, map[string]any{"disabled": false}, 200, &got)
	u.expect("dev", "GET", "/v1/auth/me", target.AccessToken, nil, http.StatusUnauthorized, nil)
	u.expect("dev", "POST", "/v1/auth/login", "", map[string]any{"email": target.User.Email, "password": testUserPassword}, 200, nil)

	// Delete: gone from the list, its token refused, its email free again.
	victim := sessions[2]
	admin("DELETE", base+"/"+victim.User.ID, nil, http.StatusNoContent, nil)
	admin("GET", base+"/"+victim.User.ID, nil, http.StatusNotFound, nil)
	admin("DELETE", base+"/"+victim.User.ID, nil, http.StatusNotFound, nil)
	u.expect("dev", "GET", "/v1/auth/me", victim.AccessToken, nil, http.StatusUnauthorized, nil)
	u.expect("dev", "POST", "/v1/auth/refresh", "", map[string]any{"refreshToken": victim.RefreshToken}, http.StatusUnauthorized, nil)
	u.signup("dev", victim.User.Email, testUserPassword)

	// Unknown environment or app: 404; bad query parameters: 400 naming them.
	admin("GET", "/admin/api/apps/"+u.app.ID+"/environments/nope/users", nil, http.StatusNotFound, nil)
	admin("GET", "/admin/api/apps/"+u.other.ID+"/environments/dev/users/"+target.User.ID, nil, http.StatusNotFound, nil)
	for param, q := range map[string]string{"limit": "limit=0", "disabled": "disabled=maybe", "role": "role=A%20B"} {
		_, data := u.callWith(bearer(tok), "GET", base+"?"+q, nil)
		if p := problemOf(t, data); p.Status != 400 || len(p.Errors) == 0 || p.Errors[0].Field != param {
			t.Fatalf("%s: %s", q, data)
		}
	}
	// Without an admin token: 401.
	u.expect("dev", "GET", base, "", nil, http.StatusUnauthorized, nil)
}

func TestAdminUsersSQLite(t *testing.T) {
	t.Parallel()
	runAdminUsers(t, newUserEnv(t, nil, Config{}))
}

func TestAdminUsersFerretDB(t *testing.T) {
	t.Parallel()
	runAdminUsers(t, newUserEnv(t, teststore.FerretDB(t), Config{}))
}

// FuzzUserQuery feeds arbitrary query strings to the user list parser: it
// must never panic, and whatever it accepts is within its limits.
func FuzzUserQuery(f *testing.F) {
	for _, s := range []string{"", "search=ada&role=editor&disabled=true&limit=10", "limit=-1", "disabled=yes", "role=%00", "search=" + string(make([]byte, 300))} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := http.NewRequest("GET", "/x?"+raw, nil)
		if err != nil {
			return
		}
		q, err := parseUserQuery(r)
		if err != nil {
			return
		}
		if q.Limit < 0 || q.Limit > 1000 || len(q.Search) > 254 {
			t.Fatalf("accepted %+v", q)
		}
	})
}
