package api

import "net/http"

// describeDashboard documents the dashboard route.
func describeDashboard(spec *apiSpec, path string) {
	number := func(desc string) map[string]any { return map[string]any{"type": "number", "description": desc} }
	spec.schema("DashboardMinute", object(map[string]any{
		"t":            dateTime("The minute's start."),
		"requests":     integer("Requests that finished in the minute."),
		"errors":       integer("Responses with status 500 or above."),
		"clientErrors": integer("Responses with a 4xx status."),
		"p50Ms":        number("Median latency, ms, interpolated within a histogram bucket (exact to within 25%)."),
		"p99Ms":        number("99th percentile latency, ms, likewise."),
		"cacheHits":    integer("Answers served from the cache (X-Skybridge-Cache hit or stale)."),
		"cacheMisses":  integer("Cached routes' answers computed anew (X-Skybridge-Cache miss)."),
		"pushesSent":   integer("Push messages sent (one per device)."),
	}, "t", "requests", "errors", "clientErrors", "p50Ms", "p99Ms", "cacheHits", "cacheMisses", "pushesSent"))
	spec.schema("DashboardRoute", object(map[string]any{
		"route":        str(`Method and route pattern, e.g. "GET /v1/flows/{name}" ("other" past the series cap).`),
		"appVersion":   str(`The X-App-Version sent ("" for none; "other" past the 10 versions kept per route).`),
		"requests":     integer("Requests over the window."),
		"perMinute":    number("Requests per minute over the window."),
		"errors":       integer("Responses with status 500 or above."),
		"clientErrors": integer("Responses with a 4xx status."),
		"p50Ms":        number("Median latency, ms."),
		"p99Ms":        number("99th percentile latency, ms."),
	}, "route", "appVersion", "requests", "perMinute", "errors", "clientErrors", "p50Ms", "p99Ms"))
	spec.schema("Dashboard", object(map[string]any{
		"from": dateTime("Start of the window (a minute)."),
		"to":   dateTime("End of the window, exclusive: the end of the open minute."),
		"totals": object(map[string]any{
			"requests": integer("Requests over the window."), "errors": integer("5xx responses."), "clientErrors": integer("4xx responses."),
			"errorRate": number("errors / requests."), "p50Ms": number("Median latency, ms."), "p99Ms": number("99th percentile latency, ms."),
			"cacheHits": integer("Cache hits."), "cacheMisses": integer("Cache misses."), "cacheHitRatio": number("hits / (hits + misses)."),
			"connectedDevices": integer("Devices connected now to the serving node's broker (not windowed)."),
			"pushesSent":       integer("Push messages sent over the window."),
		}, "requests", "errors", "clientErrors", "errorRate", "p50Ms", "p99Ms", "cacheHits", "cacheMisses", "cacheHitRatio", "connectedDevices", "pushesSent"),
		"series": arrayOf(ref("DashboardMinute")),
		"routes": arrayOf(ref("DashboardRoute")),
	}, "from", "to", "totals", "series", "routes"))
	spec.route(http.MethodGet, path, operation{
		ID: "getDashboard", Tag: "admin", Security: []string{schemeBearer},
		Summary: "The environment's live traffic over the last `minutes` (1 to 1440, default 60), every node's merged: " +
			"one series entry per minute oldest first (zeros included), the open minute last; the top 50 route × app version rows. " +
			"Only /v1 calls with the environment's keys count. Poll it (every 5 s suits).",
		Responses: []response{{Status: 200, Description: "The dashboard.", Schema: "Dashboard"}},
		Problems:  []int{400, 401, 403, 404},
	})
}
