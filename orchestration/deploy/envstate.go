package deploy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// maxAttempts bounds the retries of a compare-and-swap write that keeps
// losing to concurrent writers.
const maxAttempts = 32

// envState is the document of one app environment in collEnvs, _id
// appID/env: the variables, the sealed secrets, and configRev, which every
// variable or secret change increments so that nodes know to rebuild. The
// live version is not kept here: it is the environment's highest
// deployment version (see lastVersion), which needs no compare-and-swap.
type envState struct {
	appID, env string
	gen        int64 // the document's _v; 0 when it does not exist yet
	configRev  int64
	vars       map[string]any
	secrets    map[string]sealedSecret
	updatedAt  time.Time
}

// sealedSecret is a secret at rest: keyring.Seal of the value, bound to
// app, environment and name.
type sealedSecret struct {
	sealed    []byte
	updatedAt time.Time
}

func secretAAD(appID, env, name string) []byte {
	return []byte("flow-secret/" + appID + "/" + env + "/" + name)
}

func (st *envState) doc() (store.Doc, error) {
	vars, err := json.Marshal(st.vars)
	if err != nil {
		return nil, fmt.Errorf("encode variables: %w", err)
	}
	secrets := make(map[string]any, len(st.secrets))
	for name, sec := range st.secrets {
		secrets[name] = map[string]any{
			"sealed":    base64.StdEncoding.EncodeToString(sec.sealed),
			"updatedAt": store.FormatTime(sec.updatedAt),
		}
	}
	return store.Doc{
		store.FieldID: envKey(st.appID, st.env),
		"appId":       st.appID,
		"env":         st.env,
		"configRev":   st.configRev,
		// Variables are kept as JSON text: their values may hold keys
		// (with '.' or '$') that store field names may not.
		"variables": string(vars),
		"secrets":   secrets,
		"updatedAt": store.FormatTime(st.updatedAt),
	}, nil
}

func envStateFromDoc(appID, env string, d store.Doc) (*envState, error) {
	st := &envState{appID: appID, env: env, gen: store.DocVersion(d), secrets: map[string]sealedSecret{}}
	st.configRev, _ = store.Int64(d["configRev"])
	var err error
	if st.vars, err = decodeVariables([]byte(str(d, "variables"))); err != nil {
		return nil, fmt.Errorf("environment %s/%s: variables: %w", appID, env, err)
	}
	st.updatedAt, _ = time.Parse(store.TimeFormat, str(d, "updatedAt"))
	secrets, _ := d["secrets"].(map[string]any)
	for name, v := range secrets {
		m, _ := v.(map[string]any)
		raw, err := base64.StdEncoding.DecodeString(str(m, "sealed"))
		if err != nil {
			return nil, fmt.Errorf("environment %s/%s: secret %q: %w", appID, env, name, err)
		}
		at, _ := time.Parse(store.TimeFormat, str(m, "updatedAt"))
		st.secrets[name] = sealedSecret{sealed: raw, updatedAt: at}
	}
	return st, nil
}

// decodeVariables reads variables from JSON text, integers as int64.
func decodeVariables(data []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return map[string]any{}, nil
	}
	return store.Normalize(m).(map[string]any), nil
}

// loadEnv reads the state of one environment; a missing document is an
// empty state with gen 0.
func (s *Service) loadEnv(ctx context.Context, appID, env string) (*envState, error) {
	d, err := s.sys.Collection(collEnvs).Get(ctx, envKey(appID, env))
	if errors.Is(err, store.ErrNotFound) {
		return &envState{appID: appID, env: env, vars: map[string]any{}, secrets: map[string]sealedSecret{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read environment %s/%s: %w", appID, env, err)
	}
	return envStateFromDoc(appID, env, d)
}

// errStale reports a lost compare-and-swap: the caller reads again.
var errStale = errors.New("deploy: environment changed meanwhile")

// saveEnv writes st if the stored document is still at st.gen (inserting
// when gen is 0) and returns the new gen; errStale when another writer
// came first.
func (s *Service) saveEnv(ctx context.Context, st *envState) (int64, error) {
	st.updatedAt = s.now()
	d, err := st.doc()
	if err != nil {
		return 0, err
	}
	c := s.sys.Collection(collEnvs)
	var out store.Doc
	if st.gen == 0 {
		out, err = c.Insert(ctx, d)
		if errors.Is(err, store.ErrDuplicate) {
			return 0, errStale
		}
	} else {
		out, err = c.Replace(ctx, envKey(st.appID, st.env), st.gen, d)
		if errors.Is(err, store.ErrVersionConflict) || errors.Is(err, store.ErrNotFound) {
			return 0, errStale
		}
	}
	if err != nil {
		return 0, fmt.Errorf("write environment %s/%s: %w", st.appID, st.env, err)
	}
	return store.DocVersion(out), nil
}

// openSecrets decrypts the environment's secrets for a build.
func (s *Service) openSecrets(st *envState) (map[string]string, error) {
	out := make(map[string]string, len(st.secrets))
	for name, sec := range st.secrets {
		pt, err := s.kr.Open(sec.sealed, secretAAD(st.appID, st.env, name))
		if err != nil {
			return nil, fmt.Errorf("open secret %q of %s/%s: %w", name, st.appID, st.env, err)
		}
		out[name] = string(pt)
	}
	return out, nil
}

// buildEnv is the Env a bundle is built against in state st.
func (s *Service) buildEnv(st *envState) (Env, error) {
	secrets, err := s.openSecrets(st)
	if err != nil {
		return Env{}, err
	}
	return Env{AppID: st.appID, Name: st.env, Vars: st.vars, Secrets: secrets}, nil
}

// str reads a string field of a document ("" when absent).
func str(d map[string]any, field string) string {
	v, _ := d[field].(string)
	return v
}
