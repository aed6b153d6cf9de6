package api

import (
	"net/http"

	"github.com/skybridgehq/skybridge/analytics"
)

// describeAnalytics registers POST /v1/analytics/events in the OpenAPI
// document.
func describeAnalytics(spec *apiSpec) {
	spec.schema("AnalyticsEvent", strictObject(map[string]any{
		"name": map[string]any{"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]{0,39}$",
			"description": "The event name. An environment keeps at most 500 distinct names; a batch bringing the next new one is refused."},
		"properties": map[string]any{"type": "object", "maxProperties": analytics.DefaultMaxProperties,
			"additionalProperties": map[string]any{"type": []string{"string", "number", "boolean"}},
			"description":          "Up to 25 parameters: names of at most 100 characters, values of at most 1 KiB. Validated, not aggregated."},
		"timestamp":  dateTime("When the event happened (RFC 3339). Events older than 72 h or more than 1 h ahead are dropped and counted as dropped."),
		"session":    str("The app session, for distinct-session counts; at most 128 bytes."),
		"appVersion": str("The app version; at most 64 bytes."),
		"platform":   enumOf("ios", "android", "web", "other"),
	}, "name", "timestamp", "platform"))
	spec.schema("AnalyticsBatch", strictObject(map[string]any{
		"batchId": map[string]any{"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$",
			"description": "Client id of the batch: a retry with the same id counts nothing twice."},
		"events": map[string]any{"type": "array", "minItems": 1, "maxItems": analytics.DefaultMaxEvents, "items": ref("AnalyticsEvent")},
	}, "events"))
	spec.schema("AnalyticsResult", object(map[string]any{
		"accepted":  integer("Events counted (for a duplicate: that were counted the first time)."),
		"dropped":   integer("Events dropped for a timestamp out of the accepted window."),
		"duplicate": boolean("true: the batch id was seen before; nothing was counted again."),
	}, "accepted", "dropped"))
	spec.route(http.MethodPost, "/v1/analytics/events", operation{
		ID: "ingestAnalyticsEvents", Tag: "analytics", Security: []string{schemeAppKey},
		Summary: "Send a batch of custom events (at most 500, body at most 512 KiB). Every event is checked first; " +
			"one bad event refuses the whole batch and nothing is stored. An access token, when present, counts towards distinct users.",
		Request: "AnalyticsBatch",
		Responses: []response{
			{Status: 202, Description: "Counted.", Schema: "AnalyticsResult"},
			{Status: 200, Description: "A retried batch id: nothing counted again.", Schema: "AnalyticsResult"},
		},
		Problems: []int{400, 401, 413, 415},
	})
}

// describeAnalyticsAdmin registers the admin analytics routes under path
// (.../environments/{env}/analytics).
func describeAnalyticsAdmin(spec *apiSpec, path string) {
	spec.schema("AnalyticsRow", object(map[string]any{
		"day":        str("The UTC day, YYYY-MM-DD."),
		"event":      str("The event name."),
		"appVersion": str("The app version (empty when the events named none)."),
		"platform":   enumOf("ios", "android", "web", "other"),
		"count":      integer("Events counted."),
		"sessions":   integer("Distinct sessions behind them."),
		"users":      integer("Distinct signed-in users behind them."),
	}, "day", "event", "appVersion", "platform", "count", "sessions", "users"))
	spec.schema("AnalyticsReport", object(map[string]any{
		"from": str("The first day of the range."),
		"to":   str("The last day of the range."),
		"days": arrayOf(ref("AnalyticsRow")),
		"totals": object(map[string]any{
			"count":    integer("Events counted over the range."),
			"sessions": integer("The rows' distinct sessions, summed (a session under two rows counts in each)."),
			"users":    integer("The rows' distinct users, summed."),
		}, "count", "sessions", "users"),
	}, "from", "to", "days", "totals"))
	spec.schema("AnalyticsSettings", strictObject(map[string]any{
		"retentionDays": map[string]any{"type": "integer", "minimum": analytics.MinRetentionDays, "maximum": analytics.MaxRetentionDays,
			"description": "Days of counts kept. Default: 90."},
	}, "retentionDays"))
	admin := []string{schemeBearer}
	spec.route(http.MethodGet, path, operation{
		ID: "queryAnalytics", Tag: "admin",
		Summary: "Event counts per day, event, app version and platform. Query: from and to (YYYY-MM-DD, inclusive; " +
			"default the 30 days up to today, at most 366), event, appVersion, platform.",
		Security:  admin,
		Responses: []response{{Status: 200, Description: "The counts.", Schema: "AnalyticsReport"}},
		Problems:  []int{400, 401, 403, 404},
	})
	spec.route(http.MethodGet, path+"/settings", operation{
		ID: "getAnalyticsSettings", Tag: "admin", Summary: "The analytics retention of an environment.",
		Security:  admin,
		Responses: []response{{Status: 200, Description: "The settings.", Schema: "AnalyticsSettings"}},
		Problems:  []int{401, 403, 404},
	})
	spec.route(http.MethodPut, path+"/settings", operation{
		ID: "putAnalyticsSettings", Tag: "admin", Summary: "Set the analytics retention of an environment (1 to 3650 days); the next maintenance pass applies it.",
		Security:  admin,
		Request:   "AnalyticsSettings",
		Responses: []response{{Status: 200, Description: "Stored.", Schema: "AnalyticsSettings"}},
		Problems:  []int{400, 401, 403, 404},
	})
}
