package api

import (
	"net/http"

	"github.com/skybridgehq/skybridge/iotbridge"
)

// describeDeviceTelemetry registers the telemetry query in the OpenAPI
// document.
func describeDeviceTelemetry(spec *apiSpec) {
	spec.schema("Telemetry", object(map[string]any{
		"stream":     str("The stream: the topic level after telemetry/ (\"\" for skybridge/devices/{id}/telemetry itself)."),
		"time":       dateTime("The message's time: the device's ts field when it lies within 24 h before and 1 min after receipt, else receivedAt."),
		"receivedAt": dateTime("When the server received the message."),
		"data":       map[string]any{"type": "object", "additionalProperties": true, "description": "The payload as the device sent it."},
	}, "stream", "time", "receivedAt", "data"))
	spec.schema("TelemetryPage", object(map[string]any{
		"items":  arrayOf(ref("Telemetry")),
		"cursor": map[string]any{"type": []string{"string", "null"}, "description": "Pass as cursor for the next page; null on the last page."},
	}, "items", "cursor"))
	spec.route(http.MethodGet, "/v1/devices/{id}/telemetry", operation{
		ID: "listDeviceTelemetry", Tag: "devices",
		Summary: "A device's telemetry in time order, oldest first (order=desc: newest first). Query: stream (absent: every stream; " +
			"present, even empty: that stream), from (inclusive) and to (exclusive) as RFC 3339, limit (1 to 1000, default 100), cursor. " +
			"The server key, and the users who may read the device's shadow.",
		Security:  []string{schemeAppKey},
		Responses: []response{{Status: 200, Description: "One page of messages.", Schema: "TelemetryPage"}},
		Problems:  []int{400, 401, 403, 404},
	})
}

// describeTelemetryAdmin registers the telemetry retention routes.
func describeTelemetryAdmin(spec *apiSpec) {
	spec.schema("TelemetryRetention", object(map[string]any{
		"days":          integer("Days this environment keeps telemetry; 0 follows the server default (SKYBRIDGE_TELEMETRY_RETENTION)."),
		"effectiveDays": integer("The retention that applies, in days."),
	}, "days", "effectiveDays"))
	spec.schema("TelemetryRetentionRequest", strictObject(map[string]any{
		"days": map[string]any{"type": "integer", "minimum": 0, "maximum": iotbridge.MaxTelemetryRetentionDays,
			"description": "1 to 3650 days, or 0 for the server default."},
	}, "days"))
	path := "/admin/api" + telemetryRetentionPath
	spec.route(http.MethodGet, path, operation{
		ID: "getTelemetryRetention", Tag: "admin", Summary: "How long the environment keeps device telemetry.",
		Security:  []string{schemeBearer},
		Responses: []response{{Status: 200, Description: "The retention.", Schema: "TelemetryRetention"}},
		Problems:  []int{401, 403, 404},
	})
	spec.route(http.MethodPut, path, operation{
		ID: "putTelemetryRetention", Tag: "admin", Summary: "Set how long the environment keeps device telemetry; older messages are removed by the next maintenance pass.",
		Security:  []string{schemeBearer},
		Request:   "TelemetryRetentionRequest",
		Responses: []response{{Status: 200, Description: "The retention.", Schema: "TelemetryRetention"}},
		Problems:  []int{400, 401, 403, 404},
	})
}
