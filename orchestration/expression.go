package orchestration

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"
)

// Expressions are github.com/expr-lang/expr programs, compiled when a
// bundle is loaded and run against a map environment. expr has no access
// to files, the network or the process environment; the builtins that
// would read time zone files (date, timezone) are replaced by UTC-only
// helpers.

// maxExprNodes bounds one expression's size.
const maxExprNodes = 2000

// exprFunctions are the helpers added to expr's builtins.
var exprFunctionOptions = []expr.Option{
	expr.DisableBuiltin("date"),
	expr.DisableBuiltin("timezone"),
	expr.DisableBuiltin("now"),
	expr.Function("now", func(...any) (any, error) { return time.Now().UTC(), nil }, new(func() time.Time)),
	expr.Function("formatDate", formatDate,
		new(func(time.Time, string) string), new(func(string, string) string),
		new(func(float64, string) string), new(func(int, string) string), new(func(any, string) string)),
	expr.Function("parseDate", parseDate, new(func(string) time.Time), new(func(string, string) time.Time)),
	expr.MaxNodes(maxExprNodes),
}

// dateLayouts are the names formatDate and parseDate accept besides Go
// layouts.
var dateLayouts = map[string]string{
	"RFC3339":     time.RFC3339,
	"RFC3339Nano": time.RFC3339Nano,
	"RFC1123":     time.RFC1123,
	"date":        time.DateOnly,
	"datetime":    time.DateTime,
	"time":        time.TimeOnly,
}

func layoutOf(s string) string {
	if l, ok := dateLayouts[s]; ok {
		return l
	}
	return s
}

// toTime turns a time, an RFC 3339 (or YYYY-MM-DD) string or Unix seconds
// into a UTC time.
func toTime(v any) (time.Time, error) {
	switch t := v.(type) {
	case time.Time:
		return t.UTC(), nil
	case string:
		return parseTimeText(t, "")
	case float64:
		return time.Unix(0, int64(t*1e9)).UTC(), nil
	case int:
		return time.Unix(int64(t), 0).UTC(), nil
	case int64:
		return time.Unix(t, 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("not a date: %T", v)
}

func parseTimeText(s, layout string) (time.Time, error) {
	if layout != "" {
		t, err := time.Parse(layoutOf(layout), s)
		return t.UTC(), err
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, errors.New("parseDate: not an RFC 3339 date or YYYY-MM-DD")
	}
	return t, nil
}

// formatDate(t, layout) formats a date (time, RFC 3339 text or Unix
// seconds) in UTC with a Go layout or a layout name (RFC3339, date, ...).
func formatDate(args ...any) (any, error) {
	t, err := toTime(args[0])
	if err != nil {
		return nil, err
	}
	layout, _ := args[1].(string)
	return t.Format(layoutOf(layout)), nil
}

// parseDate(s [, layout]) parses a date in UTC: RFC 3339 or YYYY-MM-DD
// without a layout.
func parseDate(args ...any) (any, error) {
	s, _ := args[0].(string)
	layout := ""
	if len(args) > 1 {
		layout, _ = args[1].(string)
	}
	return parseTimeText(s, layout)
}

// vmPool reuses expr VMs (their stacks) across evaluations.
var vmPool = sync.Pool{New: func() any { return new(vm.VM) }}

// runProgram evaluates p against env.
func runProgram(p *vm.Program, env map[string]any) (any, error) {
	m := vmPool.Get().(*vm.VM)
	out, err := m.Run(p, env)
	vmPool.Put(m)
	return out, err
}
