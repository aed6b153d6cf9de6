package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
)

// decodeJSON reads r's body, which must be declared application/json (or
// a +json type) in UTF-8, as exactly one JSON value into dst. Unknown object
// fields are refused. Its errors map to 415, 413 or a 400 problem that says
// where the JSON went wrong and names the offending field.
func decodeJSON(r *http.Request, dst any) error {
	if err := checkJSONContentType(r.Header.Get("Content-Type")); err != nil {
		return err
	}
	if r.Body == nil {
		return decodeJSONBytes(nil, dst)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return err
		}
		return fmt.Errorf("%w: reading the body: %v", ErrMalformedBody, err)
	}
	return decodeJSONBytes(body, dst)
}

// checkJSONContentType accepts application/json and application/*+json,
// with no charset or a UTF-8 one.
func checkJSONContentType(ct string) error {
	if ct == "" {
		return fmt.Errorf("%w: Content-Type is missing; send application/json", ErrUnsupportedMediaType)
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("%w: Content-Type %q cannot be parsed; send application/json", ErrUnsupportedMediaType, ct)
	}
	if mt != "application/json" && !(strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return fmt.Errorf("%w: Content-Type %q; send application/json", ErrUnsupportedMediaType, mt)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fmt.Errorf("%w: charset %q; send UTF-8", ErrUnsupportedMediaType, cs)
	}
	return nil
}

// decodeJSONBytes decodes data, which must hold exactly one JSON value,
// into dst. Numbers decoded into interface values stay json.Number, so
// that store.Normalize can keep integers exact.
func decodeJSONBytes(data []byte, dst any) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("%w: the body is empty; a JSON value is expected", ErrMalformedBody)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return jsonError(data, err)
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: unexpected data after the JSON value at %s", ErrMalformedBody, position(data, end))
	}
	return nil
}

// jsonError explains a decoding error in terms of the request: where the
// syntax broke, or which field has the wrong type or is unknown.
func jsonError(data []byte, err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		inv *json.InvalidUnmarshalError
	)
	switch {
	case errors.As(err, &inv):
		// A programming error (dst is not a pointer): a 500.
		return fmt.Errorf("api: decode JSON: %w", err)
	case errors.As(err, &syn):
		return fmt.Errorf("%w: invalid JSON at %s: %s", ErrMalformedBody, position(data, syn.Offset-1), strings.TrimPrefix(syn.Error(), "json: "))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: the JSON ends early at %s", ErrMalformedBody, position(data, int64(len(data))))
	case errors.As(err, &typ):
		want := jsonTypeName(typ)
		if typ.Field == "" {
			return fmt.Errorf("%w: the body must be a JSON %s, not %s", ErrMalformedBody, want, typ.Value)
		}
		return onField(typ.Field, fmt.Errorf("%w: must be a JSON %s, not %s (at %s)", ErrMalformedBody, want, typ.Value, position(data, typ.Offset)))
	}
	if name, ok := unknownField(err); ok {
		return onField(name, fmt.Errorf("%w: unknown field %q", ErrMalformedBody, name))
	}
	return fmt.Errorf("%w: %s", ErrMalformedBody, strings.TrimPrefix(err.Error(), "json: "))
}

// unknownField extracts the field name from encoding/json's error for
// DisallowUnknownFields, which has no type of its own.
func unknownField(err error) (string, bool) {
	rest, ok := strings.CutPrefix(err.Error(), "json: unknown field ")
	if !ok {
		return "", false
	}
	name, uerr := strconv.Unquote(rest)
	if uerr != nil {
		return rest, true
	}
	return name, true
}

// jsonTypeName names the JSON type a Go type is decoded from.
func jsonTypeName(e *json.UnmarshalTypeError) string {
	if e.Type == nil {
		return "value"
	}
	switch e.Type.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	case reflect.Struct, reflect.Map:
		return "object"
	}
	return "value"
}

// position renders a byte offset into data as "line L, column C" (both
// from 1, columns counted in bytes).
func position(data []byte, off int64) string {
	if off < 0 {
		off = 0
	}
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	before := data[:off]
	line := bytes.Count(before, []byte{'\n'}) + 1
	col := int64(len(before)-bytes.LastIndexByte(before, '\n')-1) + 1
	return fmt.Sprintf("line %d, column %d", line, col)
}

// writeJSON sends v as a JSON response with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("api: encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
	return nil
}
