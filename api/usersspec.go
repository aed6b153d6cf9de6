package api

import "net/http"

// describeUsers registers /v1/auth in the OpenAPI document.
func describeUsers(spec *apiSpec) {
	spec.schema("User", object(map[string]any{
		"id":            str("The user id; kept when an anonymous user is linked."),
		"email":         str("The normalised email address; absent for anonymous users."),
		"emailVerified": boolean("Whether the user proved the email address (a verification mail, or an OpenID provider vouching for it)."),
		"anonymous":     boolean("Whether the user signed in with a device id only."),
		"disabled":      boolean("Present and true on disabled users, in admin answers."),
		"roles":         arrayOf(str("A role.")),
		"profile":       map[string]any{"type": "object", "description": "Free-form profile data given at signup."},
		"createdAt":     dateTime("When the user was created."),
	}, "id", "anonymous", "roles", "createdAt"))
	spec.schema("UserSession", object(map[string]any{
		"user":         ref("User"),
		"accessToken":  str("A JWT for Authorization: Bearer on /v1 calls of this environment."),
		"refreshToken": str("An opaque, single-use token for POST /v1/auth/refresh; absent after link (keep the current one)."),
		"expiresIn":    integer("Seconds until the access token expires."),
	}, "user", "accessToken", "expiresIn"))
	spec.schema("SignupRequest", strictObject(map[string]any{
		"email":    str("The user's email address."),
		"password": str("At least 10 characters, not a common password."),
		"profile":  map[string]any{"type": "object", "description": "Free-form profile data, at most 16 KiB as JSON."},
	}, "email", "password"))
	spec.schema("UserCredentials", strictObject(map[string]any{
		"email":    str("The user's email address."),
		"password": str("The user's password."),
	}, "email", "password"))
	spec.schema("AnonymousRequest", strictObject(map[string]any{
		"deviceId": str("A stable id of the device, 8 to 128 printable ASCII characters."),
	}, "deviceId"))
	spec.schema("RefreshRequest", strictObject(map[string]any{
		"refreshToken": str("The refresh token."),
	}, "refreshToken"))
	spec.schema("LogoutRequest", strictObject(map[string]any{
		"refreshToken": str("The refresh token of the session to end; absent ends the access token's session."),
	}))
	spec.schema("PasswordRequest", strictObject(map[string]any{
		"currentPassword": str("The current password."),
		"newPassword":     str("The new password, under the signup rules."),
	}, "currentPassword", "newPassword"))

	key := []string{schemeAppKey}
	// The user access token travels in Authorization: Bearer too, but the
	// document's bearer scheme is the admin token's; user routes say so in
	// their summary instead.
	user := key
	session := []response{{Status: 200, Description: "Signed in.", Schema: "UserSession"}}
	spec.route(http.MethodPost, "/v1/auth/signup", operation{
		ID: "userSignup", Tag: "auth", Summary: "Create a user with email and password and sign in.", Security: key,
		Request:   "SignupRequest",
		Responses: []response{{Status: 201, Description: "Created and signed in.", Schema: "UserSession"}},
		Problems:  []int{400, 401, 409},
	})
	spec.route(http.MethodPost, "/v1/auth/login", operation{
		ID: "userLogin", Tag: "auth", Summary: "Sign in with email and password.", Security: key,
		Request: "UserCredentials", Responses: session, Problems: []int{400, 401, 429},
	})
	spec.route(http.MethodPost, "/v1/auth/anonymous", operation{
		ID: "userAnonymous", Tag: "auth", Summary: "Sign in the anonymous user of a device, creating it on first use.", Security: key,
		Request: "AnonymousRequest", Responses: session, Problems: []int{400, 401},
	})
	spec.route(http.MethodPost, "/v1/auth/refresh", operation{
		ID: "userRefresh", Tag: "auth", Summary: "Trade a refresh token for a new pair; reusing a spent one revokes the session.", Security: key,
		Request: "RefreshRequest", Responses: session, Problems: []int{400, 401},
	})
	spec.route(http.MethodPost, "/v1/auth/logout", operation{
		ID: "userLogout", Tag: "auth", Summary: "End a session (user access token in Authorization: Bearer).", Security: user,
		Request:   "LogoutRequest",
		Responses: []response{{Status: 204, Description: "Logged out."}},
		Problems:  []int{400, 401},
	})
	spec.route(http.MethodPost, "/v1/auth/link", operation{
		ID: "userLink", Tag: "auth", Summary: "Give the anonymous user an email and password, keeping its id (user access token in Authorization: Bearer).", Security: user,
		Request: "UserCredentials", Responses: session, Problems: []int{400, 401, 409},
	})
	spec.route(http.MethodPost, "/v1/auth/password", operation{
		ID: "userPassword", Tag: "auth", Summary: "Change the password; other sessions are revoked (user access token in Authorization: Bearer).", Security: user,
		Request:   "PasswordRequest",
		Responses: []response{{Status: 204, Description: "Changed."}},
		Problems:  []int{400, 401},
	})
	spec.route(http.MethodGet, "/v1/auth/me", operation{
		ID: "userMe", Tag: "auth", Summary: "The signed-in user (user access token in Authorization: Bearer).", Security: user,
		Responses: []response{{Status: 200, Description: "The user.", Schema: "User"}},
		Problems:  []int{401},
	})
}
