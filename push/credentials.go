package push

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/sideshow/apns2/token"

	"github.com/skybridgehq/skybridge/store"
)

// Credential kinds, the suffix of their document ids.
const (
	kindAPNs = "apns"
	kindFCM  = "fcm"
)

var (
	appleIDRe  = regexp.MustCompile(`^[A-Z0-9]{10}$`)
	bundleIDRe = regexp.MustCompile(`^[A-Za-z0-9.\-]{1,155}$`)
)

// APNsCredentials is an APNs token-authentication key: the body of
// PUT /admin/api/apps/{id}/environments/{env}/push/apns.
type APNsCredentials struct {
	// Key is the .p8 file's content (PEM, PKCS #8 EC P-256 key).
	Key string `json:"key"`
	// KeyID and TeamID are the key's and the team's 10-character ids.
	KeyID  string `json:"keyId"`
	TeamID string `json:"teamId"`
	// BundleID is the app's bundle id, sent as apns-topic.
	BundleID string `json:"bundleId"`
	// Production selects api.push.apple.com; false the sandbox.
	Production bool `json:"production"`
}

// FCMCredentials is a Firebase service account: the body of
// PUT /admin/api/apps/{id}/environments/{env}/push/fcm.
type FCMCredentials struct {
	// ServiceAccount is the service account's JSON key file.
	ServiceAccount json.RawMessage `json:"serviceAccount"`
}

// serviceAccount is what Skybridge reads of a service account key.
type serviceAccount struct {
	Type        string `json:"type"`
	ProjectID   string `json:"project_id"`
	ClientEmail string `json:"client_email"`
	PrivateKey  string `json:"private_key"`
	TokenURI    string `json:"token_uri"`
}

// CredentialsInfo is what the admin API shows of an environment's
// credentials: never the keys themselves.
type CredentialsInfo struct {
	APNs *APNsInfo `json:"apns"`
	FCM  *FCMInfo  `json:"fcm"`
}

// APNsInfo describes stored APNs credentials.
type APNsInfo struct {
	KeyID      string    `json:"keyId"`
	TeamID     string    `json:"teamId"`
	BundleID   string    `json:"bundleId"`
	Production bool      `json:"production"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// FCMInfo describes stored FCM credentials.
type FCMInfo struct {
	ProjectID   string    `json:"projectId"`
	ClientEmail string    `json:"clientEmail"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

func credentialID(env Env, kind string) string {
	env = env.withDB()
	return env.DB + "_" + kind
}

// aad binds a sealed secret to its document.
func credentialAAD(id string) []byte { return []byte("push-credentials:" + id) }

func (c APNsCredentials) validate() error {
	switch {
	case c.Key == "":
		return invalid("key", "is required: the content of the .p8 file")
	case !appleIDRe.MatchString(c.KeyID):
		return invalid("keyId", "must be the key's 10-character id")
	case !appleIDRe.MatchString(c.TeamID):
		return invalid("teamId", "must be the team's 10-character id")
	case !bundleIDRe.MatchString(c.BundleID):
		return invalid("bundleId", "must be the app's bundle id, such as com.example.app")
	}
	if _, err := token.AuthKeyFromBytes([]byte(c.Key)); err != nil {
		return invalid("key", "is not a .p8 key (PEM, PKCS #8, EC P-256): "+err.Error())
	}
	return nil
}

// SetAPNs checks c with a request to APNs and stores it for env.
func (s *Service) SetAPNs(ctx context.Context, env Env, c APNsCredentials) (APNsInfo, error) {
	if err := c.validate(); err != nil {
		return APNsInfo{}, err
	}
	snd, err := s.newAPNs(c)
	if err != nil {
		return APNsInfo{}, err
	}
	if err := snd.check(ctx); err != nil {
		return APNsInfo{}, err
	}
	doc := store.Doc{"kind": kindAPNs, "keyId": c.KeyID, "teamId": c.TeamID, "bundleId": c.BundleID, "production": c.Production}
	stored, err := s.putCredentials(ctx, env, kindAPNs, doc, []byte(c.Key))
	if err != nil {
		return APNsInfo{}, err
	}
	return apnsInfo(stored), nil
}

// SetFCM checks c with a validate-only send and stores it for env.
func (s *Service) SetFCM(ctx context.Context, env Env, c FCMCredentials) (FCMInfo, error) {
	sa, err := parseServiceAccount(c.ServiceAccount)
	if err != nil {
		return FCMInfo{}, err
	}
	snd, err := s.newFCM(ctx, c.ServiceAccount)
	if err != nil {
		return FCMInfo{}, &FieldError{Field: "serviceAccount", Err: fmt.Errorf("%w: %v", ErrInvalid, err)}
	}
	if err := snd.check(ctx); err != nil {
		return FCMInfo{}, err
	}
	doc := store.Doc{"kind": kindFCM, "projectId": sa.ProjectID, "clientEmail": sa.ClientEmail}
	stored, err := s.putCredentials(ctx, env, kindFCM, doc, c.ServiceAccount)
	if err != nil {
		return FCMInfo{}, err
	}
	return fcmInfo(stored), nil
}

func parseServiceAccount(raw []byte) (serviceAccount, error) {
	var sa serviceAccount
	if len(raw) == 0 {
		return sa, invalid("serviceAccount", "is required: the service account's JSON key")
	}
	if err := json.Unmarshal(raw, &sa); err != nil {
		return sa, invalid("serviceAccount", "is not a JSON object")
	}
	switch {
	case sa.Type != "service_account":
		return sa, invalid("serviceAccount.type", "must be service_account")
	case sa.ProjectID == "":
		return sa, invalid("serviceAccount.project_id", "is required")
	case sa.ClientEmail == "":
		return sa, invalid("serviceAccount.client_email", "is required")
	case sa.PrivateKey == "":
		return sa, invalid("serviceAccount.private_key", "is required")
	}
	return sa, nil
}

// putCredentials seals secret into doc and stores it as env's credentials
// of kind.
func (s *Service) putCredentials(ctx context.Context, env Env, kind string, doc store.Doc, secret []byte) (store.Doc, error) {
	id := credentialID(env, kind)
	sealed, err := s.keys.Seal(secret, credentialAAD(id))
	if err != nil {
		return nil, fmt.Errorf("push: seal credentials: %w", err)
	}
	doc["secret"] = base64.StdEncoding.EncodeToString(sealed)
	c := s.sys.Collection(CredentialsCollection)
	for range 5 {
		doc[store.FieldID] = id
		stored, err := c.Insert(ctx, doc)
		if err == nil {
			return stored, nil
		}
		if !errors.Is(err, store.ErrDuplicate) {
			return nil, fmt.Errorf("push: store credentials: %w", err)
		}
		delete(doc, store.FieldID)
		stored, err = c.Replace(ctx, id, 0, doc)
		if err == nil {
			return stored, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("push: store credentials: %w", err)
		}
	}
	return nil, fmt.Errorf("push: credentials %s: too much contention", id)
}

// openSecret unseals a credentials document's secret.
func (s *Service) openSecret(doc store.Doc) ([]byte, error) {
	sealed, err := base64.StdEncoding.DecodeString(stringOf(doc["secret"]))
	if err != nil {
		return nil, fmt.Errorf("push: credentials %s: %w", store.DocID(doc), err)
	}
	out, err := s.keys.Open(sealed, credentialAAD(store.DocID(doc)))
	if err != nil {
		return nil, fmt.Errorf("push: credentials %s: %w", store.DocID(doc), err)
	}
	return out, nil
}

// Credentials describes env's stored credentials.
func (s *Service) Credentials(ctx context.Context, env Env) (CredentialsInfo, error) {
	var out CredentialsInfo
	c := s.sys.Collection(CredentialsCollection)
	for _, kind := range []string{kindAPNs, kindFCM} {
		doc, err := c.Get(ctx, credentialID(env, kind))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return out, fmt.Errorf("push: read credentials: %w", err)
		}
		if kind == kindAPNs {
			i := apnsInfo(doc)
			out.APNs = &i
		} else {
			i := fcmInfo(doc)
			out.FCM = &i
		}
	}
	return out, nil
}

// DeleteCredentials removes env's credentials of kind ("apns", "fcm").
func (s *Service) DeleteCredentials(ctx context.Context, env Env, kind string) error {
	if kind != kindAPNs && kind != kindFCM {
		return fmt.Errorf("credentials %q: %w", kind, ErrNotFound)
	}
	err := s.sys.Collection(CredentialsCollection).Delete(ctx, credentialID(env, kind), 0)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s credentials: %w", kind, ErrNotFound)
	}
	return err
}

func apnsFromDoc(doc store.Doc, key []byte) (APNsCredentials, error) {
	prod, _ := doc["production"].(bool)
	c := APNsCredentials{Key: string(key), KeyID: stringOf(doc["keyId"]), TeamID: stringOf(doc["teamId"]), BundleID: stringOf(doc["bundleId"]), Production: prod}
	return c, c.validate()
}

func apnsInfo(d store.Doc) APNsInfo {
	prod, _ := d["production"].(bool)
	t, _ := time.Parse(store.TimeFormat, stringOf(d[store.FieldUpdatedAt]))
	return APNsInfo{KeyID: stringOf(d["keyId"]), TeamID: stringOf(d["teamId"]), BundleID: stringOf(d["bundleId"]), Production: prod, UpdatedAt: t}
}

func fcmInfo(d store.Doc) FCMInfo {
	t, _ := time.Parse(store.TimeFormat, stringOf(d[store.FieldUpdatedAt]))
	return FCMInfo{ProjectID: stringOf(d["projectId"]), ClientEmail: stringOf(d["clientEmail"]), UpdatedAt: t}
}
