package analytics

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/skybridgehq/skybridge/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.StopShared()
	os.Exit(code)
}

func TestConfigWithDefaults(t *testing.T) {
	t.Parallel()
	c := Config{}.withDefaults()
	want := Config{MaxEvents: 500, MaxBodyBytes: 512 << 10, MaxProperties: 25, MaxPropertyKey: 100, MaxPropertyValue: 1024,
		MaxEventNames: 500, MaxAge: 72 * time.Hour, MaxAhead: time.Hour, MaxDistinct: 10000, CompactAfter: 4, RetentionDays: 90}
	if c.Now == nil {
		t.Fatal("no clock")
	}
	c.Now = nil
	if fmt.Sprintf("%+v", c) != fmt.Sprintf("%+v", want) {
		t.Errorf("defaults %+v, want %+v", c, want)
	}
	set := Config{MaxEvents: 7, MaxBodyBytes: 9, MaxProperties: 3, MaxPropertyKey: 4, MaxPropertyValue: 5, MaxEventNames: 6,
		MaxAge: time.Minute, MaxAhead: time.Second, MaxDistinct: 2, CompactAfter: 8, RetentionDays: 1}
	if got := set.withDefaults(); got.Now == nil || got.MaxEvents != 7 || got.MaxBodyBytes != 9 || got.MaxProperties != 3 ||
		got.MaxPropertyKey != 4 || got.MaxPropertyValue != 5 || got.MaxEventNames != 6 || got.MaxAge != time.Minute ||
		got.MaxAhead != time.Second || got.MaxDistinct != 2 || got.CompactAfter != 8 || got.RetentionDays != 1 {
		t.Errorf("set values changed: %+v", got)
	}
	// The fold must come after the last event a day can still receive.
	if time.Duration(DefaultCompactAfter)*24*time.Hour <= DefaultMaxAge+DefaultMaxAhead {
		t.Error("CompactAfter does not outlast MaxAge + MaxAhead")
	}
}

func TestFieldErrorIsInvalid(t *testing.T) {
	t.Parallel()
	err := error(fieldErr("events[0].name", "bad"))
	if !errors.Is(err, ErrInvalid) || err.Error() != "events[0].name: bad" {
		t.Errorf("%v", err)
	}
}
