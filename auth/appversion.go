package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/Masterminds/semver/v3"

	"github.com/skybridgehq/skybridge/store"
)

// fieldMinAppVersion holds an environment's minimum app version.
const fieldMinAppVersion = "minAppVersion"

// ErrAppTooOld: the app's version is below its environment's minimum
// (426 Upgrade Required).
var ErrAppTooOld = errors.New("app version too old")

// SetMinAppVersion sets the oldest app version environment env of appID
// serves ("" serves every version). Apps sending an older X-App-Version
// are refused by CheckAppVersion: at once on this node, within the key
// cache's lifetime on the others.
func (s *Service) SetMinAppVersion(ctx context.Context, appID, env, minimum string) (Environment, error) {
	if minimum != "" {
		v, err := semver.StrictNewVersion(minimum)
		if err != nil {
			return Environment{}, fmt.Errorf("%w: minimum %q is not a version such as 2.1.0", ErrInvalid, minimum)
		}
		minimum = v.String()
	}
	if !appIDRe.MatchString(appID) || ValidEnvironmentName(env) != nil {
		return Environment{}, fmt.Errorf("%w: environment %q of app %q", ErrNotFound, env, appID)
	}
	id := store.EnvDBName(appID, env)
	coll := s.sys.Collection(collEnvironments)
	for range rotateAttempts {
		d, err := coll.Get(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return Environment{}, fmt.Errorf("%w: environment %q of app %q", ErrNotFound, env, appID)
		}
		if err != nil {
			return Environment{}, fmt.Errorf("set minimum app version: %w", err)
		}
		rec, err := envFromDoc(d)
		if err != nil {
			return Environment{}, fmt.Errorf("set minimum app version: %w", err)
		}
		rec.minAppVersion = minimum
		if _, err = coll.Replace(ctx, id, rec.version, rec.doc()); errors.Is(err, store.ErrVersionConflict) {
			continue // a key rotation meanwhile: read again
		} else if err != nil {
			return Environment{}, fmt.Errorf("set minimum app version: %w", err)
		}
		s.appKeys.invalidateEnv(id)
		s.log.InfoContext(ctx, "minimum app version set", "app", appID, "environment", env, "minimum", minimum)
		return rec.public(), nil
	}
	return Environment{}, fmt.Errorf("set minimum app version: %d conflicting writes in a row: %w", rotateAttempts, store.ErrVersionConflict)
}

// CheckAppVersion reports whether an app of version appVersion (its
// X-App-Version) may use env: ErrAppTooOld below the minimum, ErrInvalid
// for a malformed version. An app that sends no version passes: there
// is nothing to compare, and servers and tools send none.
func CheckAppVersion(env Environment, appVersion string) error {
	if env.MinAppVersion == "" || appVersion == "" {
		return nil
	}
	v, err := semver.NewVersion(appVersion)
	if err != nil {
		return fmt.Errorf("%w: X-App-Version %q is not a version such as 2.1.0", ErrInvalid, appVersion)
	}
	minimum, err := semver.NewVersion(env.MinAppVersion)
	if err != nil {
		return nil // stored by SetMinAppVersion, always valid
	}
	if v.LessThan(minimum) {
		return fmt.Errorf("%w: this environment serves app versions from %s; %s must be updated", ErrAppTooOld, env.MinAppVersion, appVersion)
	}
	return nil
}
