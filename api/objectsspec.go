package api

import (
	"net/http"
	"strings"
)

// describeObjects registers the object routes in the OpenAPI document.
func describeObjects(spec *apiSpec) {
	systemFields := map[string]any{
		"_id":        str("The object id: client-chosen on create (1 to 128 of A-Z a-z 0-9 _ . : -) or generated."),
		"_v":         integer("The version, +1 per write; the ETag is its quoted value."),
		"_seq":       integer("The object's place in its collection's change feed."),
		"_createdAt": dateTime("When the object was created."),
		"_updatedAt": dateTime("When the object was last written."),
		"_owner":     str("The user who created the object (the server key may name another)."),
		"_acl": object(map[string]any{
			"read":  arrayOf(str("A user id, role:<name>, or * for everyone.")),
			"write": arrayOf(str("A user id, role:<name>, or * for everyone.")),
		}),
	}
	obj := object(systemFields, "_id", "_v", "_seq", "_createdAt", "_updatedAt")
	obj["additionalProperties"] = true
	obj["description"] = "A JSON object with its system fields. Field names may not start with $ or contain a dot."
	spec.schema("Object", obj)
	body := object(map[string]any{
		"_id":  systemFields["_id"],
		"_acl": systemFields["_acl"],
	})
	body["additionalProperties"] = true
	body["description"] = "The object's fields. On create, _id and _acl may be set; other _ fields are refused. " +
		"On replace, system fields sent back unchanged (a GET-modify-PUT round trip) are ignored, and differing ones are refused by name, except _acl."
	spec.schema("ObjectBody", body)
	patch := map[string]any{"type": "object", "additionalProperties": true,
		"description": "A JSON merge patch (RFC 7396): null deletes a field, objects merge, anything else replaces."}
	spec.schema("ObjectMergePatch", patch)
	spec.schema("ObjectPage", object(map[string]any{
		"items":  arrayOf(ref("Object")),
		"cursor": map[string]any{"type": []string{"string", "null"}, "description": "Pass as cursor for the next page; null on the last page."},
		"count":  integer("The number of matching objects over all pages, with count=true."),
	}, "items", "cursor"))

	const (
		objects = "/v1/collections/{col}/objects"
		one     = objects + "/{id}"
	)
	key := []string{schemeAppKey}
	caller := " The caller is the user of Authorization: Bearer <access token>, if any; X-Skybridge-Server-Key bypasses the collection's rules."
	withETag := []string{"ETag"}
	spec.route(http.MethodPost, objects, operation{
		ID: "createObject", Tag: "objects", Security: key,
		Summary: "Create an object; the collection is created on first write where the environment allows." + caller,
		Request: "ObjectBody",
		Responses: []response{{Status: 201, Description: "Created: the stored object.", Schema: "Object",
			Headers: []string{"Location", "ETag", IdempotentReplayedHeader}}},
		Problems: []int{400, 401, 403, 409, 413, 422},
	})
	objectParams(spec, http.MethodPost, objects, objectHeader(IdempotencyKeyHeader,
		"Retry safely: the same key and body within 24 h get the first answer again; another body is a 422, a request still running a 409."))
	spec.route(http.MethodGet, objects, operation{
		ID: "listObjects", Tag: "objects", Security: key,
		Summary:   "List the objects the caller may read, one page at a time (keyset pagination on the sort fields and _id)." + caller,
		Responses: []response{{Status: 200, Description: "One page.", Schema: "ObjectPage"}},
		Problems:  []int{400, 401, 403},
	})
	objectParams(spec, http.MethodGet, objects,
		objectQuery("filter", "A JSON filter: the MongoDB subset $eq $ne $gt $gte $lt $lte $in $nin $exists $and $or $not $regex on dotted paths."),
		objectQuery("sort", "Up to 3 comma-separated paths, - for descending, e.g. -n,title."),
		objectQueryOf("limit", "Page size, 1 to 1000. Default: 100.", map[string]any{"type": "integer", "minimum": 1, "maximum": maxObjectLimit}),
		objectQuery("cursor", "The cursor of the previous page of the same query."),
		objectQuery("fields", "A comma list of paths to return; _id always comes back."),
		objectQueryOf("count", "true adds the number of matching objects.", map[string]any{"type": "boolean"}))
	spec.route(http.MethodGet, one, operation{
		ID: "getObject", Tag: "objects", Security: key,
		Summary:   "Get an object; one the caller may not read is a 404." + caller,
		Responses: []response{{Status: 200, Description: "The object.", Schema: "Object", Headers: withETag}, {Status: 304, Description: "If-None-Match names the current version."}},
		Problems:  []int{400, 401, 404},
	})
	objectParams(spec, http.MethodGet, one, objectHeader("If-None-Match", "The ETag the client holds: a match answers 304 without a body."))
	ifMatch := objectHeader("If-Match", "The ETag (\"<_v>\") the object must still have, or *: otherwise 412.")
	spec.route(http.MethodPut, one, operation{
		ID: "replaceObject", Tag: "objects", Security: key,
		Summary:   "Replace an object's fields." + caller,
		Request:   "ObjectBody",
		Responses: []response{{Status: 200, Description: "The stored object.", Schema: "Object", Headers: withETag}},
		Problems:  []int{400, 401, 403, 404, 409, 412, 413},
	})
	objectParams(spec, http.MethodPut, one, ifMatch)
	spec.route(http.MethodPatch, one, operation{
		ID: "patchObject", Tag: "objects", Security: key,
		Summary:   "Change an object with a JSON merge patch (application/merge-patch+json or application/json)." + caller,
		Request:   "ObjectMergePatch",
		Responses: []response{{Status: 200, Description: "The stored object.", Schema: "Object", Headers: withETag}},
		Problems:  []int{400, 401, 403, 404, 409, 412, 413, 415},
	})
	if op, ok := spec.paths[one]["patch"].(map[string]any); ok {
		op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
			mergePatchContentType: map[string]any{"schema": ref("ObjectMergePatch")},
			"application/json":    map[string]any{"schema": ref("ObjectMergePatch")},
		}}
	}
	objectParams(spec, http.MethodPatch, one, ifMatch)
	spec.route(http.MethodDelete, one, operation{
		ID: "deleteObject", Tag: "objects", Security: key,
		Summary:   "Delete an object: it reads as 404 from then on; a tombstone stays for sync." + caller,
		Responses: []response{{Status: 204, Description: "Deleted."}},
		Problems:  []int{401, 403, 404, 412},
	})
	objectParams(spec, http.MethodDelete, one, ifMatch)
}

// objectParams adds query and header parameters to a described route.
func objectParams(spec *apiSpec, method, path string, params ...map[string]any) {
	op, ok := spec.paths[path][strings.ToLower(method)].(map[string]any)
	if !ok {
		return
	}
	list, _ := op["parameters"].([]any)
	for _, p := range params {
		list = append(list, p)
	}
	op["parameters"] = list
}

func objectQuery(name, desc string) map[string]any {
	return objectQueryOf(name, desc, map[string]any{"type": "string"})
}

func objectQueryOf(name, desc string, schema map[string]any) map[string]any {
	return map[string]any{"name": name, "in": "query", "description": desc, "schema": schema}
}

func objectHeader(name, desc string) map[string]any {
	return map[string]any{"name": name, "in": "header", "description": desc, "schema": map[string]any{"type": "string"}}
}
