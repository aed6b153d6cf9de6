package sql

import (
	"reflect"
	"testing"
	"time"
)

func TestSettingsWithDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   settings
		want settings
	}{
		{"zero", settings{}, settings{timeout: DefaultTimeout, maxRows: DefaultMaxRows, maxOpenConns: DefaultMaxOpenConns,
			maxIdleConns: DefaultMaxOpenConns, connMaxLifetime: DefaultConnMaxLifetime, connMaxIdleTime: DefaultConnMaxIdleTime}},
		{"set", settings{timeout: time.Second, maxRows: 5, maxOpenConns: 4, maxIdleConns: 2, connMaxLifetime: time.Hour, connMaxIdleTime: time.Minute},
			settings{timeout: time.Second, maxRows: 5, maxOpenConns: 4, maxIdleConns: 2, connMaxLifetime: time.Hour, connMaxIdleTime: time.Minute}},
		{"idle above open", settings{maxOpenConns: 3, maxIdleConns: 9}, settings{timeout: DefaultTimeout, maxRows: DefaultMaxRows, maxOpenConns: 3,
			maxIdleConns: 3, connMaxLifetime: DefaultConnMaxLifetime, connMaxIdleTime: DefaultConnMaxIdleTime}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.in.withDefaults(); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestBindValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   any
		want any
		ok   bool
	}{
		{"x", "x", true}, {float64(3), int64(3), true}, {2.5, 2.5, true}, {1e300, 1e300, true},
		{true, true, true}, {nil, nil, true}, {7, int64(7), true}, {uint64(1 << 63), nil, false},
		{[]any{1}, nil, false}, {map[string]any{}, nil, false}, {struct{}{}, nil, false},
	}
	for _, tc := range tests {
		got, err := bindValue(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("bindValue(%#v) = %#v, %v", tc.in, got, err)
		}
	}
}
