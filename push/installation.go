package push

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// Platforms of installations.
const (
	PlatformIOS     = "ios"
	PlatformAndroid = "android"
	PlatformWeb     = "web"
)

// Bounds of installation fields.
const (
	MaxTopics      = 100
	maxTokenLen    = 4096
	maxAppVersion  = 64
	maxLocaleLen   = 35
	maxTimezoneLen = 64
)

var (
	topicRe    = regexp.MustCompile(`^[A-Za-z0-9_.~%-]{1,128}$`)
	hexRe      = regexp.MustCompile(`^[0-9a-fA-F]+$`)
	fcmTokenRe = regexp.MustCompile(`^[A-Za-z0-9_:.\-/+=]+$`)
	localeRe   = regexp.MustCompile(`^[A-Za-z]{2,8}([_-][A-Za-z0-9]{1,8})*$`)
)

// Installation is one app on one device.
type Installation struct {
	ID       string `json:"id"`
	Platform string `json:"platform"`
	Token    string `json:"token"`
	// UserID is the user who registered it last; "" when anonymous.
	UserID     string    `json:"userId,omitempty"`
	Topics     []string  `json:"topics"`
	Locale     string    `json:"locale,omitempty"`
	Timezone   string    `json:"timezone,omitempty"`
	AppVersion string    `json:"appVersion,omitempty"`
	CreatedAt  time.Time `json:"createdAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// InstallationInput is the body of POST /v1/push/installations; PATCH
// takes the same fields, each optional (nil keeps the current value).
type InstallationInput struct {
	Platform   string    `json:"platform"`
	Token      string    `json:"token"`
	Topics     *[]string `json:"topics,omitempty"`
	Locale     *string   `json:"locale,omitempty"`
	Timezone   *string   `json:"timezone,omitempty"`
	AppVersion *string   `json:"appVersion,omitempty"`
}

// validPlatform checks a platform name.
func validPlatform(p string) error {
	switch p {
	case PlatformIOS, PlatformAndroid, PlatformWeb:
		return nil
	}
	return invalid("platform", fmt.Sprintf("%q is not one of ios, android, web", p))
}

// validToken checks a device token for its platform: APNs tokens are hex
// (32 bytes today, longer allowed), FCM tokens printable without spaces.
func validToken(platform, token string) error {
	switch {
	case token == "":
		return invalid("token", "is required")
	case len(token) > maxTokenLen:
		return invalid("token", fmt.Sprintf("is longer than %d characters", maxTokenLen))
	case platform == PlatformIOS && (len(token) < 32 || len(token)%2 != 0 || !hexRe.MatchString(token)):
		return invalid("token", "an APNs device token is an even number (at least 32) of hex digits")
	case platform != PlatformIOS && (len(token) < 16 || !fcmTokenRe.MatchString(token)):
		return invalid("token", "an FCM registration token has at least 16 characters: letters, digits and _:.-/+=")
	}
	return nil
}

// validTopics checks and de-duplicates topics.
func validTopics(field string, topics []string) ([]string, error) {
	if len(topics) > MaxTopics {
		return nil, invalid(field, fmt.Sprintf("at most %d topics", MaxTopics))
	}
	out := make([]string, 0, len(topics))
	seen := map[string]bool{}
	for i, t := range topics {
		if !topicRe.MatchString(t) {
			return nil, invalid(fmt.Sprintf("%s[%d]", field, i), fmt.Sprintf("%q is not a topic (1 to 128 letters, digits and _.~%%-)", t))
		}
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out, nil
}

// apply validates in's optional fields onto doc.
func (in InstallationInput) apply(doc store.Doc) error {
	if in.Topics != nil {
		t, err := validTopics("topics", *in.Topics)
		if err != nil {
			return err
		}
		list := make([]any, len(t))
		for i, x := range t {
			list[i] = x
		}
		doc["topics"] = list
	}
	if in.Locale != nil {
		if *in.Locale != "" && (len(*in.Locale) > maxLocaleLen || !localeRe.MatchString(*in.Locale)) {
			return invalid("locale", fmt.Sprintf("%q is not a locale such as en or pt-BR", *in.Locale))
		}
		doc["locale"] = *in.Locale
	}
	if in.Timezone != nil {
		if *in.Timezone != "" {
			if len(*in.Timezone) > maxTimezoneLen {
				return invalid("timezone", "is too long")
			}
			if _, err := time.LoadLocation(*in.Timezone); err != nil || *in.Timezone == "Local" {
				return invalid("timezone", fmt.Sprintf("%q is not an IANA time zone such as Europe/Paris", *in.Timezone))
			}
		}
		doc["timezone"] = *in.Timezone
	}
	if in.AppVersion != nil {
		if len(*in.AppVersion) > maxAppVersion {
			return invalid("appVersion", fmt.Sprintf("is longer than %d characters", maxAppVersion))
		}
		doc["appVersion"] = *in.AppVersion
	}
	return nil
}

// envDB opens an environment's database, creating the installations'
// indexes on first use.
func (s *Service) envDB(ctx context.Context, env Env) (store.DB, error) {
	env = env.withDB()
	db, err := s.stores.DB(ctx, env.DB)
	if err != nil {
		return nil, fmt.Errorf("push: open %s: %w", env.DB, err)
	}
	if _, ok := s.indexed.Load(env.DB); !ok {
		c := db.Collection(InstallationsCollection)
		for _, idx := range []store.Index{{Fields: []string{"token"}, Unique: true}, {Fields: []string{"userId"}}, {Fields: []string{"topics"}}} {
			if err := c.EnsureIndex(ctx, idx); err != nil {
				return nil, fmt.Errorf("push: installation index %v: %w", idx.Fields, err)
			}
		}
		s.indexed.Store(env.DB, true)
	}
	return db, nil
}

// Register stores an installation, or updates the one with the same
// token (upsert by token): the token moves to userID ("" for an anonymous
// caller), and the given optional fields replace the stored ones.
func (s *Service) Register(ctx context.Context, env Env, userID string, in InstallationInput) (Installation, error) {
	if err := validPlatform(in.Platform); err != nil {
		return Installation{}, err
	}
	if err := validToken(in.Platform, in.Token); err != nil {
		return Installation{}, err
	}
	fresh := store.Doc{}
	if err := in.apply(fresh); err != nil {
		return Installation{}, err
	}
	db, err := s.envDB(ctx, env)
	if err != nil {
		return Installation{}, err
	}
	c := db.Collection(InstallationsCollection)
	for range 5 {
		page, err := c.Find(ctx, store.Query{Filter: store.Compare{Path: "token", Op: store.OpEq, Value: in.Token}, Limit: 1})
		if err != nil {
			return Installation{}, fmt.Errorf("push: find installation: %w", err)
		}
		if len(page.Docs) == 0 {
			doc := store.Doc{"platform": in.Platform, "token": in.Token, "userId": userID, "topics": []any{}}
			for k, v := range fresh {
				doc[k] = v
			}
			stored, err := c.Insert(ctx, doc)
			if errors.Is(err, store.ErrDuplicate) {
				continue // registered concurrently: update that one
			}
			if err != nil {
				return Installation{}, fmt.Errorf("push: store installation: %w", err)
			}
			s.metrics.installations.WithLabelValues(in.Platform, "registered").Inc()
			return installationFrom(stored), nil
		}
		cur := page.Docs[0]
		next := copyFields(cur)
		next["platform"], next["userId"] = in.Platform, userID
		for k, v := range fresh {
			next[k] = v
		}
		stored, err := c.Replace(ctx, store.DocID(cur), store.DocVersion(cur), next)
		if errors.Is(err, store.ErrVersionConflict) || errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return Installation{}, fmt.Errorf("push: update installation: %w", err)
		}
		s.metrics.installations.WithLabelValues(in.Platform, "updated").Inc()
		return installationFrom(stored), nil
	}
	return Installation{}, fmt.Errorf("push: installation %s: too much contention", "token")
}

// Update changes an installation's topics, locale, time zone or app
// version. A user's installation may be changed by that user or the
// server key; an anonymous one by whoever knows its id.
func (s *Service) Update(ctx context.Context, env Env, userID string, server bool, id string, in InstallationInput) (Installation, error) {
	set := store.Doc{}
	if err := in.apply(set); err != nil {
		return Installation{}, err
	}
	db, err := s.envDB(ctx, env)
	if err != nil {
		return Installation{}, err
	}
	c := db.Collection(InstallationsCollection)
	for range 5 {
		cur, err := s.ownInstallation(ctx, c, userID, server, id)
		if err != nil {
			return Installation{}, err
		}
		next := copyFields(cur)
		for k, v := range set {
			next[k] = v
		}
		stored, err := c.Replace(ctx, id, store.DocVersion(cur), next)
		if errors.Is(err, store.ErrVersionConflict) {
			continue
		}
		if errors.Is(err, store.ErrNotFound) {
			return Installation{}, fmt.Errorf("installation %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return Installation{}, fmt.Errorf("push: update installation: %w", err)
		}
		return installationFrom(stored), nil
	}
	return Installation{}, fmt.Errorf("push: installation %s: too much contention", id)
}

// Delete removes an installation, with Update's permissions.
func (s *Service) Delete(ctx context.Context, env Env, userID string, server bool, id string) error {
	db, err := s.envDB(ctx, env)
	if err != nil {
		return err
	}
	c := db.Collection(InstallationsCollection)
	cur, err := s.ownInstallation(ctx, c, userID, server, id)
	if err != nil {
		return err
	}
	if err := c.Delete(ctx, id, store.DocVersion(cur)); err != nil {
		if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrVersionConflict) {
			return fmt.Errorf("installation %s: %w", id, ErrNotFound)
		}
		return fmt.Errorf("push: delete installation: %w", err)
	}
	s.metrics.installations.WithLabelValues(stringOf(cur["platform"]), "deleted").Inc()
	return nil
}

// Installation returns one installation (server key only in the api).
func (s *Service) Installation(ctx context.Context, env Env, id string) (Installation, error) {
	db, err := s.envDB(ctx, env)
	if err != nil {
		return Installation{}, err
	}
	d, err := db.Collection(InstallationsCollection).Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return Installation{}, fmt.Errorf("installation %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Installation{}, fmt.Errorf("push: read installation: %w", err)
	}
	return installationFrom(d), nil
}

// ownInstallation reads installation id and checks that the caller may
// change it.
func (s *Service) ownInstallation(ctx context.Context, c store.Collection, userID string, server bool, id string) (store.Doc, error) {
	cur, err := c.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrInvalid) {
		return nil, fmt.Errorf("installation %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("push: read installation: %w", err)
	}
	owner := stringOf(cur["userId"])
	if !server && owner != "" && owner != userID {
		return nil, fmt.Errorf("installation %s belongs to another user: %w", id, ErrForbidden)
	}
	return cur, nil
}

// pruneInstallation deletes an installation whose token APNs or FCM
// declared dead, unless it was registered again with a new token since.
func (s *Service) pruneInstallation(ctx context.Context, envDB, id, token string) {
	db, err := s.stores.DB(ctx, envDB)
	if err != nil {
		return
	}
	c := db.Collection(InstallationsCollection)
	cur, err := c.Get(ctx, id)
	if err != nil || stringOf(cur["token"]) != token {
		return
	}
	if err := c.Delete(ctx, id, store.DocVersion(cur)); err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrVersionConflict) {
		s.log.Warn("push: prune installation", "installation", id, "err", err)
	}
}

func installationFrom(d store.Doc) Installation {
	in := Installation{
		ID: store.DocID(d), Platform: stringOf(d["platform"]), Token: stringOf(d["token"]), UserID: stringOf(d["userId"]),
		Locale: stringOf(d["locale"]), Timezone: stringOf(d["timezone"]), AppVersion: stringOf(d["appVersion"]), Topics: []string{},
	}
	if l, ok := d["topics"].([]any); ok {
		for _, t := range l {
			in.Topics = append(in.Topics, stringOf(t))
		}
	}
	in.CreatedAt, _ = time.Parse(store.TimeFormat, stringOf(d[store.FieldCreatedAt]))
	in.UpdatedAt, _ = time.Parse(store.TimeFormat, stringOf(d[store.FieldUpdatedAt]))
	return in
}

func stringOf(v any) string { s, _ := v.(string); return s }

// copyFields copies a stored document without the fields the store owns.
func copyFields(d store.Doc) store.Doc {
	out := make(store.Doc, len(d))
	for k, v := range d {
		switch k {
		case store.FieldVersion, store.FieldSeq, store.FieldCreatedAt, store.FieldUpdatedAt:
			continue
		}
		out[k] = v
	}
	return out
}
