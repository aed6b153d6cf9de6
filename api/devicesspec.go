package api

import "net/http"

// describeDevices registers the device routes in the OpenAPI document.
func describeDevices(spec *apiSpec) {
	acl := object(map[string]any{
		"read":  arrayOf(str("A user id, role:<name>, or * for everyone: may read the shadow and commands.")),
		"write": arrayOf(str("A user id, role:<name>, or * for everyone: may set desired state and send commands.")),
	})
	spec.schema("Device", object(map[string]any{
		"id":                 str("The device id, unique across the server: 1 to 128 of A-Z a-z 0-9 _ -. It is the MQTT username."),
		"name":               str("A display name."),
		"type":               str("A device type, for filtering."),
		"attributes":         map[string]any{"type": "object", "additionalProperties": true, "description": "String, number or boolean attributes."},
		"_owner":             str("The user who owns the device: he may read its shadow and send it commands."),
		"_acl":               acl,
		"disabled":           boolean("A disabled device cannot connect; disabling drops its connections."),
		"online":             boolean("Whether the device holds a live MQTT connection."),
		"connections":        integer("How many live MQTT connections the device holds."),
		"lastSeenAt":         dateTime("When the device was last connected."),
		"lastConnectedAt":    dateTime("When the device last connected."),
		"lastDisconnectedAt": dateTime("When the device last disconnected."),
		"createdAt":          dateTime("When the device was registered."),
		"updatedAt":          dateTime("When the registry entry last changed."),
		"version":            integer("The registry entry's version; the ETag is its quoted value."),
	}, "id", "disabled", "online", "version"))
	spec.schema("DeviceInput", strictObject(map[string]any{
		"id":         str("The device id: 1 to 128 of A-Z a-z 0-9 _ -, free across the server (else 409)."),
		"name":       str("A display name."),
		"type":       str("A device type."),
		"attributes": map[string]any{"type": "object", "additionalProperties": true},
		"owner":      str("The owning user's id."),
		"_acl":       acl,
	}, "id"))
	spec.schema("DeviceCreated", object(map[string]any{
		"id":     str("The device id."),
		"secret": str("The device's MQTT password: shown this once, stored only as an HMAC."),
		"device": ref("Device"),
	}, "id", "secret"))
	spec.schema("DevicePatch", strictObject(map[string]any{
		"name":       str("A display name."),
		"type":       str("A device type."),
		"attributes": map[string]any{"type": "object", "additionalProperties": true, "description": "Replaces the attributes."},
		"owner":      str("The owning user's id."),
		"_acl":       acl,
		"disabled":   boolean("true refuses the device's connections and drops the live ones."),
	}))
	spec.schema("DevicePage", object(map[string]any{
		"items":  arrayOf(ref("Device")),
		"cursor": map[string]any{"type": []string{"string", "null"}, "description": "Pass as cursor for the next page; null on the last page."},
	}, "items", "cursor"))
	spec.schema("DeviceSecret", object(map[string]any{"id": str("The device id."), "secret": str("The new secret, shown once.")}, "id", "secret"))
	sections := object(map[string]any{
		"desired":  map[string]any{"type": "object", "additionalProperties": true},
		"reported": map[string]any{"type": "object", "additionalProperties": true},
		"delta":    map[string]any{"type": "object", "additionalProperties": true, "description": "The desired leaves that differ from reported."},
	})
	spec.schema("Shadow", object(map[string]any{
		"state":     sections,
		"metadata":  object(map[string]any{"desired": map[string]any{"type": "object"}, "reported": map[string]any{"type": "object"}}),
		"version":   integer("+1 per accepted update; it only goes up (across deletes too)."),
		"timestamp": integer("Unix seconds."),
	}, "state", "metadata", "version", "timestamp"))
	spec.schema("ShadowUpdate", strictObject(map[string]any{
		"state": strictObject(map[string]any{
			"desired": map[string]any{"type": []string{"object", "null"}, "description": "Keys to set; null deletes a key (or, for desired itself, all of it)."},
		}, "desired"),
		"version":     integer("The version the shadow must have (as If-Match)."),
		"clientToken": str("Echoed on the device's /update/accepted and /delta."),
	}, "state"))
	spec.schema("Command", object(map[string]any{
		"id":          str("The command id."),
		"device":      str("The device id."),
		"name":        str("The command name."),
		"payload":     map[string]any{"description": "Any JSON value."},
		"status":      enumOf("queued", "delivered", "succeeded", "failed", "expired"),
		"result":      map[string]any{"description": "The device's result, when it sent one."},
		"createdAt":   dateTime("When it was sent."),
		"expiresAt":   dateTime("When it expires without a reply."),
		"deliveredAt": dateTime("When it went out to the device."),
		"finishedAt":  dateTime("When it succeeded, failed or expired."),
	}, "id", "device", "name", "status", "createdAt", "expiresAt"))
	spec.schema("CommandInput", strictObject(map[string]any{
		"name":       str("1 to 128 of A-Z a-z 0-9 _ . : -."),
		"payload":    map[string]any{"description": "Any JSON value."},
		"timeoutSec": integer("Seconds the command waits for its reply before it expires. Default: 3600."),
	}, "name"))
	spec.schema("CommandPage", object(map[string]any{
		"items":  arrayOf(ref("Command")),
		"cursor": map[string]any{"type": []string{"string", "null"}},
	}, "items", "cursor"))

	const (
		devices = "/v1/devices"
		one     = devices + "/{id}"
	)
	server := []string{schemeAppKey, schemeServerKey}
	key := []string{schemeAppKey}
	reach := " The server key reaches every device of its environment; a user's access token the devices he owns or whose _acl names him."
	spec.route(http.MethodPost, devices, operation{ID: "registerDevice", Tag: "devices", Security: server,
		Summary: "Register a device (server key); its MQTT secret is in the answer, once.", Request: "DeviceInput",
		Responses: []response{{Status: 201, Description: "Registered.", Schema: "DeviceCreated", Headers: []string{"Location"}}},
		Problems:  []int{400, 401, 403, 409}})
	spec.route(http.MethodGet, devices, operation{ID: "listDevices", Tag: "devices", Security: key,
		Summary:   "List the devices the caller may reach, by id." + reach,
		Responses: []response{{Status: 200, Description: "One page.", Schema: "DevicePage"}}, Problems: []int{400, 401, 403}})
	objectParams(spec, http.MethodGet, devices,
		objectQuery("type", "Only devices of this type."), objectQuery("owner", "Only devices of this owner."),
		objectQueryOf("disabled", "Only disabled (true) or enabled (false) devices.", map[string]any{"type": "boolean"}),
		objectQueryOf("limit", "Page size, 1 to 1000. Default: 100.", map[string]any{"type": "integer", "minimum": 1, "maximum": 1000}),
		objectQuery("cursor", "The cursor of the previous page."))
	spec.route(http.MethodGet, one, operation{ID: "getDevice", Tag: "devices", Security: key,
		Summary:   "Get a device; one the caller may not reach is a 404." + reach,
		Responses: []response{{Status: 200, Description: "The device.", Schema: "Device", Headers: []string{"ETag"}}}, Problems: []int{401, 403, 404}})
	spec.route(http.MethodPatch, one, operation{ID: "patchDevice", Tag: "devices", Security: server,
		Summary: "Change a device (server key); disabled: true drops its connections at once.", Request: "DevicePatch",
		Responses: []response{{Status: 200, Description: "The device.", Schema: "Device", Headers: []string{"ETag"}}}, Problems: []int{400, 401, 403, 404, 412}})
	objectParams(spec, http.MethodPatch, one, objectHeader("If-Match", "The ETag the device must still have: otherwise 412."))
	spec.route(http.MethodDelete, one, operation{ID: "deleteDevice", Tag: "devices", Security: server,
		Summary:   "Delete a device with its shadows and commands (server key); its connections drop and its id is free again.",
		Responses: []response{{Status: 204, Description: "Deleted."}}, Problems: []int{401, 403, 404}})
	spec.route(http.MethodPost, one+"/secret", operation{ID: "rotateDeviceSecret", Tag: "devices", Security: server,
		Summary:   "Give a device a new secret (server key); the old one stops working and its connections drop.",
		Responses: []response{{Status: 200, Description: "The new secret, shown once.", Schema: "DeviceSecret"}}, Problems: []int{401, 403, 404}})
	spec.route(http.MethodGet, one+"/shadow", operation{ID: "getShadow", Tag: "devices", Security: key,
		Summary:   "Get a device's shadow (AWS IoT classic format), with its delta." + reach,
		Responses: []response{{Status: 200, Description: "The shadow.", Schema: "Shadow", Headers: []string{"ETag"}}}, Problems: []int{401, 403, 404}})
	objectParams(spec, http.MethodGet, one+"/shadow", objectQuery("name", "A named shadow; omitted for the classic shadow."))
	spec.route(http.MethodPatch, one+"/shadow", operation{ID: "patchShadow", Tag: "devices", Security: key,
		Summary:   "Set desired state: the device gets /update/accepted, /documents and /delta as from AWS IoT. Needs write access." + reach,
		Request:   "ShadowUpdate",
		Responses: []response{{Status: 200, Description: "The shadow after the update.", Schema: "Shadow", Headers: []string{"ETag"}}},
		Problems:  []int{400, 401, 403, 404, 409, 412, 413}})
	objectParams(spec, http.MethodPatch, one+"/shadow", objectQuery("name", "A named shadow; omitted for the classic shadow."),
		objectHeader("If-Match", "The shadow version (ETag) it must still have: otherwise 412."))
	spec.route(http.MethodPost, one+"/commands", operation{ID: "sendCommand", Tag: "devices", Security: key,
		Summary:   "Send a command: delivered at QoS 1 on skybridge/devices/<id>/commands at once, or when the device subscribes again. Needs write access." + reach,
		Request:   "CommandInput",
		Responses: []response{{Status: 202, Description: "Queued.", Schema: "Command", Headers: []string{"Location"}}},
		Problems:  []int{400, 401, 403, 404}})
	spec.route(http.MethodGet, one+"/commands", operation{ID: "listCommands", Tag: "devices", Security: key,
		Summary:   "List a device's commands, newest first." + reach,
		Responses: []response{{Status: 200, Description: "One page.", Schema: "CommandPage"}}, Problems: []int{400, 401, 403, 404}})
	objectParams(spec, http.MethodGet, one+"/commands",
		objectQuery("status", "Only commands in this status."),
		objectQueryOf("limit", "Page size, 1 to 1000. Default: 100.", map[string]any{"type": "integer", "minimum": 1, "maximum": 1000}),
		objectQuery("cursor", "The cursor of the previous page."))
	spec.route(http.MethodGet, one+"/commands/{cmd}", operation{ID: "getCommand", Tag: "devices", Security: key,
		Summary:   "Get a command and its status: queued → delivered → succeeded | failed | expired." + reach,
		Responses: []response{{Status: 200, Description: "The command.", Schema: "Command"}}, Problems: []int{401, 403, 404}})
}
