package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// fillQueryData stores 30 records over two apps, two environments and
// three actors, one minute apart from t0.
func fillQueryData(t *testing.T, db store.DB, t0 time.Time) {
	t.Helper()
	s := newService(t, db, Config{BatchSize: 64, FlushInterval: time.Millisecond})
	s.Start()
	for i := 0; i < 30; i++ {
		app, env := "qa", "prod"
		if i%2 == 1 {
			env = "dev"
		}
		if i >= 24 {
			app, env = "", ""
		}
		r := sample(app, env, i)
		r.Time = t0.Add(time.Duration(i) * time.Minute)
		if i%5 == 0 {
			r.Actor = Actor{Kind: ActorDevice, ID: "d1"}
			r.Resource = "devices/d1"
			r.Action = "device.command"
		}
		if err := s.Record(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestQueryFiltersAndPaging(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		q    Query
		want int
	}{
		{"all", Query{}, 30},
		{"app", Query{App: "qa"}, 24},
		{"app env", Query{App: "qa", Env: "dev"}, 12},
		{"actor kind", Query{ActorKind: ActorDevice}, 6},
		{"actor id", Query{ActorKind: ActorUser, ActorID: "u1"}, 8},
		{"resource prefix", Query{Resource: "collections/todos"}, 24},
		{"resource exact", Query{Resource: "collections/todos/objects/1"}, 1},
		{"resource is not a string prefix", Query{Resource: "collections/todo"}, 0},
		{"action", Query{Action: "device.command"}, 6},
		{"from", Query{From: t0.Add(20 * time.Minute)}, 10},
		{"from to", Query{From: t0.Add(10 * time.Minute), To: t0.Add(15 * time.Minute)}, 5},
		{"combined", Query{App: "qa", Env: "prod", ActorKind: ActorDevice, To: t0.Add(11 * time.Minute)}, 2},
	}
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			fillQueryData(t, db, t0)
			s := newService(t, db, Config{})
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					// Page by 7 so that most queries take several pages.
					q := tt.q
					q.Limit = 7
					seen := map[string]bool{}
					var last time.Time
					for pages := 0; ; pages++ {
						if pages > 10 {
							t.Fatal("paging does not end")
						}
						p, err := s.Query(ctx, q)
						if err != nil {
							t.Fatal(err)
						}
						if len(p.Items) > 7 {
							t.Fatalf("page of %d", len(p.Items))
						}
						for _, r := range p.Items {
							if seen[r.RequestID] {
								t.Fatalf("%s seen twice", r.RequestID)
							}
							seen[r.RequestID] = true
							if !last.IsZero() && r.Time.After(last) {
								t.Fatalf("not newest first: %v after %v", r.Time, last)
							}
							last = r.Time
							if r.Route != "/v1/collections/{col}/objects/{id}" || r.Hash != r.ComputeHash() {
								t.Fatalf("record %+v", r)
							}
						}
						if p.Cursor == "" {
							break
						}
						q.Cursor = p.Cursor
					}
					if len(seen) != tt.want {
						t.Fatalf("got %d records, want %d", len(seen), tt.want)
					}
				})
			}
			if _, err := s.Query(ctx, Query{Limit: MaxLimit + 1}); !errors.Is(err, ErrInvalid) {
				t.Fatalf("over-limit query: %v", err)
			}
			if _, err := s.Query(ctx, Query{Cursor: "garbage!"}); !errors.Is(err, ErrInvalid) {
				t.Fatalf("bad cursor: %v", err)
			}
		})
	}
}

func TestExportNDJSON(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for name, db := range databases(t) {
		t.Run(name, func(t *testing.T) {
			fillQueryData(t, db, t0)
			s := newService(t, db, Config{})
			var buf bytes.Buffer
			if err := s.Export(ctx, Query{App: "qa", Limit: 5}, &buf); err != nil {
				t.Fatal(err)
			}
			if lines := strings.Count(buf.String(), "\n"); lines != 24 {
				t.Fatalf("%d lines, want 24", lines)
			}
			if !strings.Contains(buf.String(), `"route":"/v1/collections/{col}/objects/{id}"`) {
				t.Fatalf("no route field: %.200s", buf.String())
			}
			n := 0
			err := ReadNDJSON(&buf, func(r Record) error {
				n++
				if r.App != "qa" || r.Hash != r.ComputeHash() {
					t.Errorf("exported record %+v does not hash to its hash", r)
				}
				return nil
			})
			if err != nil || n != 24 {
				t.Fatalf("read back %d records: %v", n, err)
			}
		})
	}
}

func TestParseQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw     string
		want    Query
		wantErr string
	}{
		{"", Query{}, ""},
		{"app=a1&env=prod&actor=user:u1&resource=/collections/todos/&action=object.update&limit=50&cursor=abc",
			Query{App: "a1", Env: "prod", ActorKind: "user", ActorID: "u1", Resource: "collections/todos", Action: "object.update", Limit: 50, Cursor: "abc"}, ""},
		{"actor=anonymous", Query{ActorKind: "anonymous"}, ""},
		{"from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z",
			Query{From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}, ""},
		{"actor=robot:1", Query{}, `"actor"`},
		{"limit=0", Query{}, `"limit"`},
		{"limit=1001", Query{}, `"limit"`},
		{"limit=x", Query{}, `"limit"`},
		{"from=yesterday", Query{}, `"from"`},
		{"from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", Query{}, `"from"`},
		{"app=a&app=b", Query{}, `"app"`},
		{"colour=red", Query{}, `"colour"`},
		{"resource=%E8", Query{}, `"resource"`},
		{"resource=" + strings.Repeat(".", 200), Query{}, `"resource"`},
		{"app=" + strings.Repeat("a", 300), Query{}, `"app"`},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			v, err := url.ParseQuery(tt.raw)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseQuery(v)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want ErrInvalid naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || !got.From.Equal(tt.want.From) || !got.To.Equal(tt.want.To) {
				t.Fatalf("got %+v %v", got, err)
			}
			got.From, got.To, tt.want.From, tt.want.To = time.Time{}, time.Time{}, time.Time{}, time.Time{}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, seed := range []string{
		"", "app=a1&env=prod", "actor=user:u1", "actor=device", "resource=/devices/d1/",
		"from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00.5+02:00", "limit=1000", "limit=-1",
		"cursor=eyJrIjpbXX0", "a=1&a=2", "actor=:", "from=9999-99-99",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseQuery(v)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		if q.Limit < 0 || q.Limit > MaxLimit {
			t.Fatalf("limit %d accepted", q.Limit)
		}
		if q.ActorKind != "" && !actorKinds[q.ActorKind] {
			t.Fatalf("actor kind %q accepted", q.ActorKind)
		}
		// The segment filter it builds must be one the store accepts.
		if f := q.segmentFilter(nil); f != nil {
			if err := store.ValidateFilter(f); err != nil {
				t.Fatalf("filter of %+v invalid: %v", q, err)
			}
		}
	})
}

func FuzzReadNDJSON(f *testing.F) {
	r := sample("a", "prod", 1)
	r.normalize(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r.N, r.Hash = 1, r.ComputeHash()
	var buf bytes.Buffer
	if err := ReadNDJSON(strings.NewReader(""), func(Record) error { return nil }); err != nil {
		f.Fatal(err)
	}
	line, _ := encodeLine(r)
	buf.Write(line)
	for _, seed := range []string{buf.String(), buf.String() + buf.String(), "{}\n", `{"n":"x"}`, `{"extra":1}`, "[1]", "{"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var got []Record
		err := ReadNDJSON(strings.NewReader(in), func(r Record) error {
			got = append(got, r)
			return nil
		})
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatalf("error %v does not wrap ErrInvalid", err)
		}
		// Whatever decodes re-encodes and decodes to the same record.
		for _, r := range got {
			line, err := encodeLine(r)
			if err != nil {
				t.Fatal(err)
			}
			var back []Record
			if err := ReadNDJSON(bytes.NewReader(line), func(r Record) error { back = append(back, r); return nil }); err != nil || len(back) != 1 {
				t.Fatalf("round trip of %+v: %v", r, err)
			}
			if back[0].ComputeHash() != r.ComputeHash() {
				t.Fatalf("round trip changed %+v into %+v", r, back[0])
			}
		}
	})
}

// encodeLine is one NDJSON line, as Export writes it.
func encodeLine(r Record) ([]byte, error) {
	var buf bytes.Buffer
	err := json.NewEncoder(&buf).Encode(&r)
	return buf.Bytes(), err
}
