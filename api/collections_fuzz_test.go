package api

import (
	"errors"
	"log/slog"
	"net/http"
	"regexp"
	"testing"

	"github.com/skybridgehq/skybridge/internal/testenv/teststore"
	"github.com/skybridgehq/skybridge/objectstore"
)

// settingsFieldRe matches the fields a refused collection settings body
// may name.
var settingsFieldRe = regexp.MustCompile(`^(rules(\.(read|create|update|delete))?|schema|indexes(\[\d+\](\.(fields|name|unique))?)?|conflict|cache(\.ttl)?|collection|[A-Za-z0-9_.$\[\]-]*)$`)

// FuzzCollectionSettingsPayload decodes arbitrary bodies as PUT
// .../collections/{col} does and checks that a refused one is a 400
// problem naming known fields, and that an accepted one is a patch whose
// values are the ones the route checked: valid rules, indexes with
// fields, a cache TTL parsed from the body. The object store's own
// checks (schema, conflict, TTL bounds) then run on a SQLite store, and
// must refuse by name too.
func FuzzCollectionSettingsPayload(f *testing.F) {
	for _, s := range []string{
		`{"rules": {"read": "public", "create": "authenticated", "update": "owner", "delete": "owner"}, "schema": {"type": "object"}, "indexes": [{"fields": ["n"], "unique": false}], "conflict": "reject", "cache": {"ttl": "30s"}}`,
		`{}`, `{"schema": null}`, `{"schema": true}`, `{"schema": {"type": 1}}`, `{"schema": {"$ref": "http://x/y"}}`,
		`{"rules": {"read": "role:editor"}}`, `{"rules": {"read": "role:"}}`, `{"rules": null}`, `{"rules": {"read": null}}`,
		`{"indexes": [{"fields": []}]}`, `{"indexes": [{"fields": ["-n", "a.b"], "unique": true, "name": "x_1"}]}`,
		`{"indexes": [{"fields": ["$x"]}]}`, `{"indexes": null}`, `{"indexes": [null]}`,
		`{"conflict": "merge-fields"}`, `{"conflict": ""}`, `{"cache": {"ttl": "-5s"}}`, `{"cache": {"ttl": "1e9h"}}`,
		`{"cache": {"ttl": 3}}`, `{"cache": null}`, `{"unknown": 1}`, `[]`, `{`, ``, `null`,
	} {
		f.Add([]byte(s))
	}
	objects := objectstore.NewService(teststore.SQLite(f), objectstore.Config{Logger: slog.New(slog.DiscardHandler)})
	env := objectstore.Env{DB: "fuzz_prod"}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req collectionSettingsRequest
		if err := decodeJSONBytes(body, &req); err != nil {
			checkClientProblem(t, body, err)
			return
		}
		patch, err := req.patch()
		if err != nil {
			p := checkClientProblem(t, body, err)
			if p.Status != http.StatusBadRequest || len(p.Errors) == 0 {
				t.Fatalf("%q: refused with %d naming %v", body, p.Status, p.Errors)
			}
			for _, fe := range p.Errors {
				if !settingsFieldRe.MatchString(fe.Field) {
					t.Fatalf("%q: names unexpected field %q", body, fe.Field)
				}
			}
			return
		}
		if r := patch.Rules; r != nil {
			for _, v := range []*string{r.Read, r.Create, r.Update, r.Delete} {
				if v != nil && objectstore.ValidRule(*v) != nil {
					t.Fatalf("%q: accepted rule %q", body, *v)
				}
			}
		}
		if patch.Indexes != nil {
			for _, idx := range *patch.Indexes {
				if idx.Validate() != nil {
					t.Fatalf("%q: accepted index %+v", body, idx)
				}
			}
		}
		if (req.Cache != nil && req.Cache.TTL != nil) != (patch.CacheTTL != nil) {
			t.Fatalf("%q: cache TTL lost or invented", body)
		}
		// The object store's own checks, by way of the field error the
		// route turns them into. Indexes are left out: the route checked
		// them, and creating every fuzzed index would only slow the run.
		patch.Indexes = nil
		if _, err := objects.PutSettings(t.Context(), env, "fuzzed", patch); err != nil {
			var fe *objectstore.FieldError
			if !errors.As(err, &fe) || !errors.Is(err, objectstore.ErrInvalid) {
				t.Fatalf("%q: the store refused without naming a field: %v", body, err)
			}
			p := checkClientProblem(t, body, onField(fe.Field, fe.Err))
			if p.Status != http.StatusBadRequest || !settingsFieldRe.MatchString(fe.Field) {
				t.Fatalf("%q: store refusal %v became %d", body, err, p.Status)
			}
		}
	})
}
