package api

import "net/http"

// describePush registers /v1/push in the OpenAPI document.
func describePush(spec *apiSpec) {
	text := func(d string) map[string]any { return str(d) }
	spec.schema("InstallationRequest", strictObject(map[string]any{
		"platform":   text("ios, android or web. Only on POST."),
		"token":      text("The APNs device token (hex) or FCM registration token. Only on POST: registering a known token updates its installation and moves it to the caller."),
		"topics":     arrayOf(text("A topic: 1 to 128 letters, digits and _.~%-.")),
		"locale":     text("The device's locale, e.g. en or pt-BR: picks the template's text."),
		"timezone":   text("An IANA time zone, e.g. Europe/Paris: local-time sends use it."),
		"appVersion": text("The app's version."),
	}))
	spec.schema("Installation", object(map[string]any{
		"id":         text("The installation id."),
		"platform":   text("ios, android or web."),
		"token":      text("The device token."),
		"userId":     text("The user who registered it last; absent when anonymous."),
		"topics":     arrayOf(text("A topic.")),
		"locale":     text("The locale."),
		"timezone":   text("The time zone."),
		"appVersion": text("The app version."),
		"createdAt":  dateTime("When it was first registered."),
		"updatedAt":  dateTime("When it last changed."),
	}, "id", "platform", "token", "topics"))
	spec.schema("PushSendRequest", strictObject(map[string]any{
		"target": strictObject(map[string]any{
			"users":         arrayOf(text("A user id: all of the user's installations.")),
			"installations": arrayOf(text("An installation id.")),
			"topics":        arrayOf(text("A topic: every installation subscribed to it.")),
			"segment":       map[string]any{"type": "object", "description": "A filter (the object query language) over installation fields: platform, locale, timezone, appVersion, topics, userId, _createdAt, _updatedAt."},
		}),
		"notification": strictObject(map[string]any{
			"title": text("The title; {{name}} is replaced by vars.name."), "body": text("The body; {{name}} as in title."),
			"data":  map[string]any{"type": "object", "description": "Custom data: top-level keys of the APNs payload, FCM data (values as text)."},
			"badge": integer("The app icon badge (iOS)."), "sound": text("The sound."), "category": text("The iOS category (Android click action)."),
			"collapseId": text("Replaces an undelivered notification with the same id (apns-collapse-id, FCM collapse key); default: the notification id."),
			"priority":   text("high (default) or normal."), "ttl": integer("Seconds APNs and FCM keep trying to deliver; default theirs."),
			"contentAvailable": boolean("Wake the app in the background (a background push without title and body)."),
			"imageUrl":         text("An image to show (FCM; iOS through a notification service extension)."),
		}),
		"ios":        strictObject(map[string]any{"threadId": text("Groups notifications."), "interruptionLevel": text("passive, active, time-sensitive or critical."), "mutableContent": boolean("Let a notification service extension change it.")}),
		"android":    strictObject(map[string]any{"channelId": text("The notification channel."), "icon": text("The icon."), "color": text("#RRGGBB."), "clickAction": text("The activity to open.")}),
		"template":   map[string]any{"type": "object", "description": "Text per locale: {\"en\": {\"title\", \"body\"}, \"de\": {...}, \"default\": {...}}. The installation's locale picks one (exact, then language, then default)."},
		"vars":       map[string]any{"type": "object", "description": "Values of the {{name}} placeholders."},
		"scheduleAt": text("When to send (RFC 3339); with localTime its wall clock in each installation's time zone."),
		"localTime":  boolean("Send at scheduleAt's wall clock in each installation's time zone (UTC when it has none)."),
		"dedupeKey":  text("A second send with the same key in the environment returns the first one's id and sends nothing."),
	}, "target", "notification"))
	spec.schema("PushSendAnswer", object(map[string]any{"id": text("The notification id.")}, "id"))
	spec.schema("PushStatus", object(map[string]any{
		"id":     text("The notification id."),
		"status": text("queued, sending, done or failed (nothing could be sent)."),
		"counts": object(map[string]any{
			"targeted": integer("Installations targeted."), "sent": integer("Handed to APNs or FCM."),
			"failed":  map[string]any{"type": "object", "description": "Failures by reason (APNs reason, FCM error code, NoCredentials ...)."},
			"pruned":  integer("Installations deleted because APNs or FCM declared their token dead."),
			"pending": integer("Not sent yet."),
		}),
		"timing": object(map[string]any{"queuedAt": dateTime("Queued."), "startedAt": dateTime("A node started on it."), "finishedAt": dateTime("Every batch finished."), "scheduledAt": text("The requested scheduleAt.")}),
		"reason": text("A sentence when credentials are missing or refused, e.g. \"APNs credentials are not configured for environment dev.\""),
	}, "id", "status", "counts"))

	key := []string{schemeAppKey}
	server := []string{schemeAppKey, schemeServerKey}
	spec.route(http.MethodPost, "/v1/push/installations", operation{
		ID: "registerInstallation", Tag: "push", Security: key,
		Summary:   "Register a device for push (upsert by token); with a user access token it belongs to that user, else it is anonymous.",
		Request:   "InstallationRequest",
		Responses: []response{{Status: 201, Description: "Registered.", Schema: "Installation", Headers: []string{"Location"}}},
		Problems:  []int{400, 401},
	})
	spec.route(http.MethodPatch, "/v1/push/installations/{id}", operation{
		ID: "updateInstallation", Tag: "push", Security: key,
		Summary:   "Change an installation's topics, locale, time zone or app version (its user, or anyone for an anonymous one, or the server key).",
		Request:   "InstallationRequest",
		Responses: []response{{Status: 200, Description: "Changed.", Schema: "Installation"}},
		Problems:  []int{400, 401, 403, 404},
	})
	spec.route(http.MethodDelete, "/v1/push/installations/{id}", operation{
		ID: "deleteInstallation", Tag: "push", Security: key, Summary: "Unregister a device.",
		Responses: []response{{Status: 204, Description: "Deleted."}},
		Problems:  []int{401, 403, 404},
	})
	spec.route(http.MethodPost, "/v1/push/send", operation{
		ID: "pushSend", Tag: "push", Security: server,
		Summary:   "Queue a notification to users, installations, topics or a segment; delivery is durable and shared by every node.",
		Request:   "PushSendRequest",
		Responses: []response{{Status: 202, Description: "Queued.", Schema: "PushSendAnswer", Headers: []string{"Location"}}},
		Problems:  []int{400, 401, 403},
	})
	spec.route(http.MethodGet, "/v1/push/notifications/{id}", operation{
		ID: "pushStatus", Tag: "push", Security: server, Summary: "A notification's status, counts, timing and, for credential problems, the reason.",
		Responses: []response{{Status: 200, Description: "The status.", Schema: "PushStatus"}},
		Problems:  []int{401, 403, 404},
	})
}

// describePushAdmin registers the admin push credential routes.
func describePushAdmin(spec *apiSpec, path string) {
	spec.schema("APNsCredentials", strictObject(map[string]any{
		"key": str("The .p8 key (PEM)."), "keyId": str("The key id (10 characters)."), "teamId": str("The team id (10 characters)."),
		"bundleId": str("The app's bundle id (apns-topic)."), "production": boolean("api.push.apple.com; false: the sandbox."),
	}, "key", "keyId", "teamId", "bundleId"))
	spec.schema("FCMCredentials", strictObject(map[string]any{
		"serviceAccount": map[string]any{"type": "object", "description": "The Firebase service account's JSON key file."},
	}, "serviceAccount"))
	spec.schema("PushCredentials", object(map[string]any{
		"apns": object(map[string]any{"keyId": str("Key id."), "teamId": str("Team id."), "bundleId": str("Bundle id."), "production": boolean("Production or sandbox."), "updatedAt": dateTime("Saved.")}),
		"fcm":  object(map[string]any{"projectId": str("Firebase project."), "clientEmail": str("Service account."), "updatedAt": dateTime("Saved.")}),
	}))
	admin := []string{schemeBearer}
	spec.route(http.MethodGet, path, operation{
		ID: "getPushCredentials", Tag: "admin", Security: admin, Summary: "The environment's push credentials, without their keys (null when not configured).",
		Responses: []response{{Status: 200, Description: "The credentials.", Schema: "PushCredentials"}},
		Problems:  []int{401, 403, 404},
	})
	spec.route(http.MethodPut, path+"/apns", operation{
		ID: "putAPNsCredentials", Tag: "admin", Security: admin, Summary: "Store an APNs token-authentication key, sealed, after a request to APNs proves it.",
		Request: "APNsCredentials", Responses: []response{{Status: 200, Description: "Checked and stored.", Schema: "PushCredentials"}},
		Problems: []int{400, 401, 403, 404, 422},
	})
	spec.route(http.MethodPut, path+"/fcm", operation{
		ID: "putFCMCredentials", Tag: "admin", Security: admin, Summary: "Store an FCM service account, sealed, after a validate-only send proves it.",
		Request: "FCMCredentials", Responses: []response{{Status: 200, Description: "Checked and stored.", Schema: "PushCredentials"}},
		Problems: []int{400, 401, 403, 404, 422},
	})
	spec.route(http.MethodDelete, path+"/{kind}", operation{
		ID: "deletePushCredentials", Tag: "admin", Security: admin, Summary: "Remove the apns or fcm credentials.",
		Responses: []response{{Status: 204, Description: "Removed."}},
		Problems:  []int{401, 403, 404},
	})
}
