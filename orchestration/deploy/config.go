package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/skybridgehq/skybridge/store"
)

// An environment's variables and secrets are what a bundle refers to as
// ${env.NAME} and ${secret.NAME}; one bundle promotes unchanged from dev to
// prod because only they differ. Changing them rebuilds the live plan: the
// change is refused (nothing written) when the live version would lack
// something it needs, or would not build.

var configNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// ValidName reports whether name can name a variable or secret: a letter
// or '_', then up to 63 letters, digits or '_'.
func ValidName(name string) bool { return configNameRe.MatchString(name) }

// SecretInfo is a secret as listed: its name and when it was set, never
// its value.
type SecretInfo struct {
	Name      string
	UpdatedAt time.Time
}

// Variables returns the variables of an app environment (empty when none
// were set).
func (s *Service) Variables(ctx context.Context, appID, env string) (map[string]any, error) {
	st, err := s.loadEnv(ctx, appID, env)
	if err != nil {
		return nil, err
	}
	return st.vars, nil
}

// SetVariables replaces the variables of an app environment with vars
// (JSON values) and rebuilds the live plan with them. A bad name or too
// large a set is an *InputError naming "variables.<name>" or "variables".
func (s *Service) SetVariables(ctx context.Context, appID, env string, vars map[string]any) (map[string]any, error) {
	if vars == nil {
		vars = map[string]any{}
	}
	names := make([]string, 0, len(vars))
	for name := range vars {
		names = append(names, name)
	}
	sort.Strings(names)
	var errs []error
	for _, name := range names {
		if !ValidName(name) {
			errs = append(errs, invalid("variables."+name, "a variable name is a letter or '_', then up to 63 letters, digits or '_'"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	vars, _ = store.Normalize(vars).(map[string]any)
	raw, err := json.Marshal(vars)
	if err != nil {
		return nil, invalid("variables", "not JSON values: %v", err)
	}
	if len(raw) > s.cfg.MaxVariablesBytes {
		return nil, &InputError{Field: "variables", Err: fmt.Errorf("%w: %d bytes of JSON; the limit is %d", ErrTooLarge, len(raw), s.cfg.MaxVariablesBytes)}
	}
	st, err := s.reconfigure(ctx, appID, env, func(st *envState) error {
		st.vars = vars
		return nil
	})
	if err != nil {
		return nil, err
	}
	return st.vars, nil
}

// Secrets lists the secrets of an app environment by name.
func (s *Service) Secrets(ctx context.Context, appID, env string) ([]SecretInfo, error) {
	st, err := s.loadEnv(ctx, appID, env)
	if err != nil {
		return nil, err
	}
	return secretInfos(st), nil
}

func secretInfos(st *envState) []SecretInfo {
	out := make([]SecretInfo, 0, len(st.secrets))
	for name, sec := range st.secrets {
		out = append(out, SecretInfo{Name: name, UpdatedAt: sec.updatedAt})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SetSecret sets (or replaces) one secret of an app environment, sealed at
// rest with the keyring and bound to app, environment and name, and
// rebuilds the live plan. The value is never returned or logged.
func (s *Service) SetSecret(ctx context.Context, appID, env, name, value string) (SecretInfo, error) {
	switch {
	case !ValidName(name):
		return SecretInfo{}, invalid("name", "a secret name is a letter or '_', then up to 63 letters, digits or '_'")
	case value == "":
		return SecretInfo{}, invalid("value", "is required")
	case len(value) > s.cfg.MaxSecretBytes:
		return SecretInfo{}, &InputError{Field: "value", Err: fmt.Errorf("%w: the limit is %d bytes", ErrTooLarge, s.cfg.MaxSecretBytes)}
	case !utf8.ValidString(value):
		return SecretInfo{}, invalid("value", "is not UTF-8")
	}
	var info SecretInfo
	_, err := s.reconfigure(ctx, appID, env, func(st *envState) error {
		if _, ok := st.secrets[name]; !ok && len(st.secrets) >= s.cfg.MaxSecrets {
			return invalid("name", "the environment has %d secrets, the most it may", len(st.secrets))
		}
		sealed, err := s.kr.Seal([]byte(value), secretAAD(appID, env, name))
		if err != nil {
			return fmt.Errorf("seal secret %q: %w", name, err)
		}
		info = SecretInfo{Name: name, UpdatedAt: s.now()}
		st.secrets[name] = sealedSecret{sealed: sealed, updatedAt: info.UpdatedAt}
		return nil
	})
	return info, err
}

// DeleteSecret removes one secret of an app environment and rebuilds the
// live plan; ErrNotFound when there is no such secret, a *MissingError
// when the live version needs it.
func (s *Service) DeleteSecret(ctx context.Context, appID, env, name string) error {
	_, err := s.reconfigure(ctx, appID, env, func(st *envState) error {
		if _, ok := st.secrets[name]; !ok {
			return fmt.Errorf("%w: secret %q of environment %q", ErrNotFound, name, env)
		}
		delete(st.secrets, name)
		return nil
	})
	return err
}

// reconfigure applies change to the environment's current state, builds
// the live version (if any) against the result, and only then writes it
// (compare-and-swap; change is applied again to a fresher state when
// another writer came first) and swaps the new plan in on this node.
func (s *Service) reconfigure(ctx context.Context, appID, env string, change func(*envState) error) (*envState, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		st, err := s.loadEnv(ctx, appID, env)
		if err != nil {
			return nil, err
		}
		live, err := s.lastVersion(ctx, appID, env)
		if err != nil {
			return nil, err
		}
		if err := change(st); err != nil {
			return nil, err
		}
		st.configRev++
		var plan Plan
		if live > 0 {
			if plan, err = s.rebuildLive(ctx, st, live); err != nil {
				return nil, err
			}
		}
		gen, err := s.saveEnv(ctx, st)
		if err != nil {
			if plan != nil {
				_ = plan.Close()
			}
			if errors.Is(err, errStale) {
				continue
			}
			return nil, err
		}
		if plan != nil {
			s.installFor(appID, env, plan, live, st.configRev)
		}
		st.gen = gen
		return st, nil
	}
	return nil, fmt.Errorf("%w: configure %s/%s", ErrConflict, appID, env)
}

// rebuildLive builds version live of st's environment under the caller's
// context, first checking that st has what it needs.
func (s *Service) rebuildLive(ctx context.Context, st *envState, live int) (Plan, error) {
	rec, err := s.getRecord(ctx, st.appID, st.env, live)
	if err != nil {
		return nil, err
	}
	in, err := s.builder.Inspect(rec.files)
	if err != nil {
		return nil, fmt.Errorf("inspect live version %d: %w", live, err)
	}
	benv, err := s.buildEnv(st)
	if err != nil {
		return nil, err
	}
	if err := missingRefs(st.appID, st.env, live, in, benv.Vars, benv.Secrets); err != nil {
		return nil, err
	}
	plan, err := s.builder.Build(ctx, rec.files, benv, live)
	if err != nil {
		return nil, buildError(benv, live, err)
	}
	return plan, nil
}
