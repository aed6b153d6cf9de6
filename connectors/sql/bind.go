package sql

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// bindValue converts one argument to a value the drivers take. Arguments
// come from JSON (string, float64, bool, nil) or from Go callers (integer
// types, time.Time, []byte, json.Number). An integral float64 becomes an
// int64, so that `WHERE id = :id` with id 42 compares integers. Lists and
// mappings are refused: a value is bound as one value, never spliced
// into the SQL text.
func bindValue(v any) (any, error) {
	switch t := v.(type) {
	case nil, string, bool, int64, []byte, time.Time:
		return t, nil
	case float64:
		return fromFloat(t), nil
	case float32:
		return fromFloat(float64(t)), nil
	case int:
		return int64(t), nil
	case int8:
		return int64(t), nil
	case int16:
		return int64(t), nil
	case int32:
		return int64(t), nil
	case uint8:
		return int64(t), nil
	case uint16:
		return int64(t), nil
	case uint32:
		return int64(t), nil
	case uint:
		if uint64(t) > math.MaxInt64 {
			return nil, fmt.Errorf("integer %d is out of range", t)
		}
		return int64(t), nil
	case uint64:
		if t > math.MaxInt64 {
			return nil, fmt.Errorf("integer %d is out of range", t)
		}
		return int64(t), nil
	case json.Number:
		if n, err := t.Int64(); err == nil {
			return n, nil
		}
		f, err := t.Float64()
		if err != nil {
			return nil, fmt.Errorf("%q is not a number", string(t))
		}
		return f, nil
	case []any:
		return nil, fmt.Errorf("is a list; a parameter takes one value")
	case map[string]any:
		return nil, fmt.Errorf("is a mapping; a parameter takes one value")
	}
	return nil, fmt.Errorf("has type %T, which a parameter cannot take", v)
}

// maxExactInt is the largest integer a float64 holds exactly (2^53).
const maxExactInt = 1 << 53

// fromFloat returns f as an int64 when it is integral and exact.
func fromFloat(f float64) any {
	if f == math.Trunc(f) && math.Abs(f) <= maxExactInt {
		return int64(f)
	}
	return f
}
