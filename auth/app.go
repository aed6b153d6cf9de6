package auth

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/skybridgehq/skybridge/store"
)

// App is a mobile app registered with Skybridge. It never carries server
// keys.
type App struct {
	ID           string        `json:"id"`
	Name         string        `json:"name"`
	CreatedAt    time.Time     `json:"createdAt"`
	Environments []Environment `json:"environments"`
}

// Environment is one stage of an app (dev, stage, prod, ...) with its own
// database and its own public app key. It never carries the server key.
type Environment struct {
	AppID     string    `json:"appId"`
	Name      string    `json:"name"`
	AppKey    string    `json:"appKey"` // public key shipped in apps
	DB        string    `json:"db"`     // store database name: store.EnvDBName(AppID, Name)
	CreatedAt time.Time `json:"createdAt"`
	// MinAppVersion, when set, is the oldest app version (X-App-Version,
	// semver) the environment serves; older apps get 426.
	MinAppVersion string `json:"minAppVersion,omitempty"`
}

// EnvironmentKeys is an environment with its server key in full: only
// returned at creation and rotation.
type EnvironmentKeys struct {
	Environment
	ServerKey string `json:"serverKey"`
}

// AppKeys is a new app with the server keys of its environments; its
// App.Environments is filled too.
type AppKeys struct {
	App
	Environments []EnvironmentKeys `json:"environments"`
}

// DefaultEnvironments are the environments CreateApp makes, in order.
var DefaultEnvironments = []string{"dev", "stage", "prod"}

// Limits on apps and environments.
const (
	MaxAppNameLen = 100 // characters
	// MaxEnvironments bounds the environments of one app. AddEnvironment
	// counts before it inserts, so racing adds may pass it by a few.
	MaxEnvironments = 32
	appIDLen        = 12
)

var (
	envNameRe = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	appIDRe   = regexp.MustCompile(`^[a-z][a-z0-9]{11}$`)
)

// Fields of app and environment documents (createdAt as for admins).
const (
	fieldName               = "name"
	fieldAppID              = "appId"
	fieldAppKey             = "appKey"
	fieldServerKeyHash      = "serverKeyHash"
	fieldAppKeyPrev         = "appKeyPrev"
	fieldAppKeyPrevUntil    = "appKeyPrevUntil"
	fieldServerKeyPrevHash  = "serverKeyPrevHash"
	fieldServerKeyPrevUntil = "serverKeyPrevUntil"
)

// NormalizeAppName trims an app name and checks it: 1 to MaxAppNameLen
// characters of valid UTF-8, without control characters or bidirectional
// overrides (which make names display as something they are not).
func NormalizeAppName(name string) (string, error) {
	n := strings.TrimSpace(name)
	if n == "" {
		return "", fmt.Errorf("%w: app name is empty", ErrInvalid)
	}
	if !utf8.ValidString(n) {
		return "", fmt.Errorf("%w: app name is not valid UTF-8", ErrInvalid)
	}
	if utf8.RuneCountInString(n) > MaxAppNameLen {
		return "", fmt.Errorf("%w: app name longer than %d characters", ErrInvalid, MaxAppNameLen)
	}
	for _, r := range n {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return "", fmt.Errorf("%w: app name holds control character %U", ErrInvalid, r)
		}
	}
	return n, nil
}

// ValidEnvironmentName checks an environment name: a lower-case letter,
// then up to 31 lower-case letters, digits or '-'.
func ValidEnvironmentName(name string) error {
	if !envNameRe.MatchString(name) {
		return fmt.Errorf("%w: environment name %q (want a lower-case letter, then up to 31 lower-case letters, digits or '-')", ErrInvalid, name)
	}
	return nil
}

// CreateApp registers an app with the DefaultEnvironments, each with new
// keys, and returns it with the server keys, which are never shown again.
//
// The environments are written first and the app last: until the app
// document exists the app is invisible, and the keys of its environments
// have been shown to no one, so a failure half way leaves nothing usable.
// The environments written so far are removed on failure (best effort).
func (s *Service) CreateApp(ctx context.Context, name string) (AppKeys, error) {
	name, err := NormalizeAppName(name)
	if err != nil {
		return AppKeys{}, err
	}
	for attempt := 0; attempt < 5; attempt++ {
		ak, err := s.createApp(ctx, name)
		if errors.Is(err, errIDTaken) {
			continue
		}
		return ak, err
	}
	return AppKeys{}, fmt.Errorf("create app: could not find a free app id")
}

var errIDTaken = errors.New("app id taken")

func (s *Service) createApp(ctx context.Context, name string) (AppKeys, error) {
	now := s.now()
	ak := AppKeys{App: App{ID: newAppID(), Name: name, CreatedAt: now}}
	var written []string
	fail := func(err error) (AppKeys, error) {
		s.removeEnvironments(ctx, written)
		if errors.Is(err, ErrExists) {
			return AppKeys{}, errIDTaken
		}
		return AppKeys{}, fmt.Errorf("create app: %w", err)
	}
	for _, env := range DefaultEnvironments {
		ek, err := s.insertEnvironment(ctx, ak.ID, env, now)
		if err != nil {
			return fail(err)
		}
		written = append(written, ek.DB)
		ak.Environments = append(ak.Environments, ek)
		ak.App.Environments = append(ak.App.Environments, ek.Environment)
	}
	_, err := s.sys.Collection(collApps).Insert(ctx, store.Doc{
		store.FieldID:  ak.ID,
		fieldName:      ak.Name,
		fieldCreatedAt: store.FormatTime(now),
	})
	if errors.Is(err, store.ErrDuplicate) {
		err = ErrExists
	}
	if err != nil {
		return fail(err)
	}
	s.log.InfoContext(ctx, "app created", "app", ak.ID)
	return ak, nil
}

// removeEnvironments deletes environments of an app that failed to be
// created. It runs even when ctx is done.
func (s *Service) removeEnvironments(ctx context.Context, ids []string) {
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for _, id := range ids {
		if err := s.sys.Collection(collEnvironments).Delete(ctx, id, 0); err != nil && !errors.Is(err, store.ErrNotFound) {
			s.log.WarnContext(ctx, "remove environment of a failed app creation", "environment", id, "err", err)
		}
	}
}

// insertEnvironment writes a new environment with fresh keys. It fails
// with ErrExists when the app has an environment of that name.
func (s *Service) insertEnvironment(ctx context.Context, appID, name string, now time.Time) (EnvironmentKeys, error) {
	id := store.EnvDBName(appID, name)
	if err := store.ValidDBName(id); err != nil {
		return EnvironmentKeys{}, fmt.Errorf("%w: environment database name: %w", ErrInvalid, err)
	}
	coll := s.sys.Collection(collEnvironments)
	for attempt := 0; attempt < 5; attempt++ {
		serverKey, serverHash := newServerKey()
		rec := envRecord{
			id: id, appID: appID, name: name, createdAt: now,
			appKey: newAppKey(), serverKeyHash: serverHash,
		}
		_, err := coll.Insert(ctx, rec.doc())
		if err == nil {
			return EnvironmentKeys{Environment: rec.public(), ServerKey: serverKey}, nil
		}
		if !errors.Is(err, store.ErrDuplicate) {
			return EnvironmentKeys{}, fmt.Errorf("insert environment %q: %w", id, err)
		}
		// Either the environment exists, or (never seen, but cheap to
		// handle) a random key collided with another environment's.
		if _, gerr := coll.Get(ctx, id); gerr == nil {
			return EnvironmentKeys{}, fmt.Errorf("%w: environment %q of app %q", ErrExists, name, appID)
		} else if !errors.Is(gerr, store.ErrNotFound) {
			return EnvironmentKeys{}, fmt.Errorf("insert environment %q: %w", id, gerr)
		}
	}
	return EnvironmentKeys{}, fmt.Errorf("insert environment %q: keys keep colliding", id)
}

// AddEnvironment adds an environment with new keys to an app. The name
// must pass ValidEnvironmentName (ErrInvalid); an app has each name once
// (ErrExists). Since each environment is its own document, keyed by its
// database name, the insert itself is the compare-and-swap: of two racing
// adds of one name, exactly one succeeds.
func (s *Service) AddEnvironment(ctx context.Context, appID, name string) (EnvironmentKeys, error) {
	if err := ValidEnvironmentName(name); err != nil {
		return EnvironmentKeys{}, err
	}
	if _, err := s.appDoc(ctx, appID); err != nil {
		return EnvironmentKeys{}, err
	}
	n, err := s.sys.Collection(collEnvironments).Count(ctx, appFilter(appID))
	if err != nil {
		return EnvironmentKeys{}, fmt.Errorf("add environment: %w", err)
	}
	if n >= MaxEnvironments {
		return EnvironmentKeys{}, fmt.Errorf("%w: app %q has %d environments already (at most %d)", ErrInvalid, appID, n, MaxEnvironments)
	}
	ek, err := s.insertEnvironment(ctx, appID, name, s.now())
	if err != nil {
		return EnvironmentKeys{}, err
	}
	s.log.InfoContext(ctx, "environment added", "app", appID, "environment", name)
	return ek, nil
}

// GetApp returns an app with its environments, or ErrNotFound.
func (s *Service) GetApp(ctx context.Context, id string) (App, error) {
	d, err := s.appDoc(ctx, id)
	if err != nil {
		return App{}, err
	}
	app, err := appFromDoc(d)
	if err != nil {
		return App{}, err
	}
	envs, err := s.findEnvironments(ctx, appFilter(id))
	if err != nil {
		return App{}, err
	}
	if e := envs[id]; e != nil {
		app.Environments = e
	}
	return app, nil
}

// ListApps returns every app with its environments, oldest first.
func (s *Service) ListApps(ctx context.Context) ([]App, error) {
	docs, err := findAll(ctx, s.sys.Collection(collApps), store.Query{
		Sort: []store.SortKey{{Path: fieldCreatedAt}},
	})
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	envs, err := s.findEnvironments(ctx, nil)
	if err != nil {
		return nil, err
	}
	apps := make([]App, 0, len(docs))
	for _, d := range docs {
		app, err := appFromDoc(d)
		if err != nil {
			return nil, err
		}
		if e := envs[app.ID]; e != nil {
			app.Environments = e
		}
		apps = append(apps, app)
	}
	return apps, nil
}

// appDoc returns the app document, or ErrNotFound (also for ids that
// cannot be app ids).
func (s *Service) appDoc(ctx context.Context, id string) (store.Doc, error) {
	if !appIDRe.MatchString(id) {
		return nil, fmt.Errorf("%w: app %q", ErrNotFound, id)
	}
	d, err := s.sys.Collection(collApps).Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: app %q", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("get app %q: %w", id, err)
	}
	return d, nil
}

// findEnvironments returns the environments matching f, by app id, each
// app's in display order: the defaults first, then by age and name.
func (s *Service) findEnvironments(ctx context.Context, f store.Filter) (map[string][]Environment, error) {
	docs, err := findAll(ctx, s.sys.Collection(collEnvironments), store.Query{Filter: f})
	if err != nil {
		return nil, fmt.Errorf("find environments: %w", err)
	}
	out := make(map[string][]Environment)
	for _, d := range docs {
		rec, err := envFromDoc(d)
		if err != nil {
			return nil, err
		}
		out[rec.appID] = append(out[rec.appID], rec.public())
	}
	for _, envs := range out {
		sort.Slice(envs, func(i, j int) bool {
			a, b := envs[i], envs[j]
			if ra, rb := envRank(a.Name), envRank(b.Name); ra != rb {
				return ra < rb
			}
			if !a.CreatedAt.Equal(b.CreatedAt) {
				return a.CreatedAt.Before(b.CreatedAt)
			}
			return a.Name < b.Name
		})
	}
	return out, nil
}

func envRank(name string) int {
	for i, d := range DefaultEnvironments {
		if d == name {
			return i
		}
	}
	return len(DefaultEnvironments)
}

func appFilter(appID string) store.Filter {
	return store.Compare{Path: fieldAppID, Op: store.OpEq, Value: appID}
}

// findAll reads every page of q.
func findAll(ctx context.Context, c store.Collection, q store.Query) ([]store.Doc, error) {
	q.Limit = store.MaxLimit
	var out []store.Doc
	for {
		page, err := c.Find(ctx, q)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Docs...)
		if page.Cursor == "" {
			return out, nil
		}
		q.Cursor = page.Cursor
	}
}

func appFromDoc(d store.Doc) (App, error) {
	created, err := parseTime(d[fieldCreatedAt])
	if err != nil {
		return App{}, fmt.Errorf("app %q: %w", store.DocID(d), err)
	}
	return App{ID: store.DocID(d), Name: docString(d, fieldName), CreatedAt: created, Environments: []Environment{}}, nil
}

// GetEnvironment returns the environment name of app appID, or ErrNotFound
// (also for ids and names that cannot exist).
func (s *Service) GetEnvironment(ctx context.Context, appID, name string) (Environment, error) {
	if !appIDRe.MatchString(appID) || ValidEnvironmentName(name) != nil {
		return Environment{}, fmt.Errorf("%w: environment %q of app %q", ErrNotFound, name, appID)
	}
	d, err := s.sys.Collection(collEnvironments).Get(ctx, store.EnvDBName(appID, name))
	if errors.Is(err, store.ErrNotFound) {
		return Environment{}, fmt.Errorf("%w: environment %q of app %q", ErrNotFound, name, appID)
	}
	if err != nil {
		return Environment{}, fmt.Errorf("get environment: %w", err)
	}
	rec, err := envFromDoc(d)
	if err != nil {
		return Environment{}, fmt.Errorf("get environment: %w", err)
	}
	return rec.public(), nil
}
