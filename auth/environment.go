package auth

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/skybridgehq/skybridge/store"
)

// envRecord is an environment document of the system database: one per
// environment, its _id the environment's database name. Besides the
// current keys it holds at most one previous app key and one previous
// server key hash, each with the end of its grace period.
type envRecord struct {
	id      string
	version int64

	appID, name string
	createdAt   time.Time

	appKey          string
	appKeyPrev      string
	appKeyPrevUntil time.Time

	serverKeyHash      string // hex SHA-256 of the server key
	serverKeyPrevHash  string
	serverKeyPrevUntil time.Time

	// User token signing key generations (see RotateUserKey); an absent
	// userKeyGen field reads as generation 1.
	userKeyGen       int64
	userKeyPrevGen   int64
	userKeyPrevUntil time.Time

	// minAppVersion, when set, refuses older apps (SetMinAppVersion).
	minAppVersion string
}

// doc is the document to write. Absent previous keys leave their fields
// out, so that the unique index on appKeyPrev exempts the document.
func (r envRecord) doc() store.Doc {
	d := store.Doc{
		store.FieldID:      r.id,
		fieldAppID:         r.appID,
		fieldName:          r.name,
		fieldCreatedAt:     store.FormatTime(r.createdAt),
		fieldAppKey:        r.appKey,
		fieldServerKeyHash: r.serverKeyHash,
	}
	if r.appKeyPrev != "" {
		d[fieldAppKeyPrev] = r.appKeyPrev
		d[fieldAppKeyPrevUntil] = store.FormatTime(r.appKeyPrevUntil)
	}
	if r.serverKeyPrevHash != "" {
		d[fieldServerKeyPrevHash] = r.serverKeyPrevHash
		d[fieldServerKeyPrevUntil] = store.FormatTime(r.serverKeyPrevUntil)
	}
	if r.userKeyGen > 1 {
		d[fieldUserKeyGen] = r.userKeyGen
	}
	if r.userKeyPrevGen > 0 {
		d[fieldUserKeyPrevGen] = r.userKeyPrevGen
		d[fieldUserKeyPrevUntil] = store.FormatTime(r.userKeyPrevUntil)
	}
	if r.minAppVersion != "" {
		d[fieldMinAppVersion] = r.minAppVersion
	}
	return d
}

// public is the environment as callers see it: no server key material.
func (r envRecord) public() Environment {
	return Environment{
		AppID:     r.appID,
		Name:      r.name,
		AppKey:    r.appKey,
		DB:        store.EnvDBName(r.appID, r.name),
		CreatedAt: r.createdAt,

		MinAppVersion: r.minAppVersion,
	}
}

func envFromDoc(d store.Doc) (envRecord, error) {
	r := envRecord{
		id:                store.DocID(d),
		version:           store.DocVersion(d),
		appID:             docString(d, fieldAppID),
		name:              docString(d, fieldName),
		appKey:            docString(d, fieldAppKey),
		appKeyPrev:        docString(d, fieldAppKeyPrev),
		serverKeyHash:     docString(d, fieldServerKeyHash),
		serverKeyPrevHash: docString(d, fieldServerKeyPrevHash),
		minAppVersion:     docString(d, fieldMinAppVersion),
	}
	bad := func(what string, err error) (envRecord, error) {
		return envRecord{}, fmt.Errorf("environment %q: %s: %w", r.id, what, err)
	}
	var err error
	if r.createdAt, err = parseTime(d[fieldCreatedAt]); err != nil {
		return bad("createdAt", err)
	}
	if r.appKeyPrev != "" {
		if r.appKeyPrevUntil, err = parseTime(d[fieldAppKeyPrevUntil]); err != nil {
			return bad("appKeyPrevUntil", err)
		}
	}
	if r.serverKeyPrevHash != "" {
		if r.serverKeyPrevUntil, err = parseTime(d[fieldServerKeyPrevUntil]); err != nil {
			return bad("serverKeyPrevUntil", err)
		}
	}
	r.userKeyGen, _ = d[fieldUserKeyGen].(int64)
	if r.userKeyGen < 1 {
		r.userKeyGen = 1
	}
	if r.userKeyPrevGen, _ = d[fieldUserKeyPrevGen].(int64); r.userKeyPrevGen > 0 {
		if r.userKeyPrevUntil, err = parseTime(d[fieldUserKeyPrevUntil]); err != nil {
			return bad("userKeyPrevUntil", err)
		}
	}
	if r.id != store.EnvDBName(r.appID, r.name) || r.appKey == "" {
		return bad("identity", fmt.Errorf("id, app and name do not agree, or no app key"))
	}
	return r, nil
}

// serverHashes is what CheckServerKey compares against, decoded.
type serverHashes struct {
	current   []byte
	prev      []byte // nil when there is no previous key
	prevUntil time.Time
}

func (r envRecord) serverHashes() (serverHashes, error) {
	var h serverHashes
	var err error
	if h.current, err = decodeKeyHash(r.serverKeyHash); err != nil {
		return h, fmt.Errorf("environment %q: server key hash: %w", r.id, err)
	}
	if r.serverKeyPrevHash != "" {
		if h.prev, err = decodeKeyHash(r.serverKeyPrevHash); err != nil {
			return h, fmt.Errorf("environment %q: previous server key hash: %w", r.id, err)
		}
		h.prevUntil = r.serverKeyPrevUntil
	}
	return h, nil
}

func decodeKeyHash(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return nil, fmt.Errorf("not 64 hex digits")
	}
	return b, nil
}
