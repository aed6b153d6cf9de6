package sqlite

import (
	"database/sql/driver"
	"regexp"
	"sync"

	msqlite "modernc.org/sqlite"
)

// regexpCacheSize bounds the compiled patterns kept per provider. Patterns
// are bounded in length (store.MaxRegexLen), not in number.
const regexpCacheSize = 512

// regexpCache backs the SQL function sb_regexp(pattern, value): Go's RE2,
// so matching time is linear in the input. Compiled patterns are cached;
// when the cache is full it is emptied and refilled by the patterns in use.
type regexpCache struct {
	max int
	mu  sync.Mutex
	m   map[string]*regexp.Regexp
}

func newRegexpCache(max int) *regexpCache {
	return &regexpCache{max: max, m: make(map[string]*regexp.Regexp)}
}

func (c *regexpCache) get(pattern string) (*regexp.Regexp, error) {
	c.mu.Lock()
	re, ok := c.m[pattern]
	c.mu.Unlock()
	if ok {
		return re, nil
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[pattern] = re
	c.mu.Unlock()
	return re, nil
}

// sqlFunc is sb_regexp: 1 when value is a string matching pattern, else 0.
// A case-insensitive match is written into the pattern as (?i).
func (c *regexpCache) sqlFunc(_ *msqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
	pattern, ok1 := args[0].(string)
	s, ok2 := args[1].(string)
	if !ok1 || !ok2 {
		return int64(0), nil
	}
	re, err := c.get(pattern)
	if err != nil {
		return nil, err
	}
	if re.MatchString(s) {
		return int64(1), nil
	}
	return int64(0), nil
}
