package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/skybridgehq/skybridge/store"
)

// collIdentities links OpenID subjects to users of an environment's pool,
// _id = provider|subject.
const collIdentities = "userIdentities"

// Fields of identity documents.
const (
	fieldIdentityProvider = "provider"
	fieldIdentitySubject  = "subject"
	fieldIdentityEmail    = "email" // as the provider gave it at linking
)

func identityID(provider, subject string) string { return provider + "|" + subject }

// oidcUser returns the user of a verified ID token's subject, linking or
// creating it on first sign-in:
//
//   - a known subject signs in its user;
//   - else, when the provider vouches for the email (email_verified) and a
//     user has that email, the subject is linked to that user, whose email
//     becomes verified. If that user's email was not verified before, the
//     account might have been pre-registered by someone else with the
//     victim's address, so it is taken over for the verified owner: its
//     password is removed (the owner can reset it by mail) and its sessions
//     and other identities are revoked, as Firebase does;
//   - else a new user is created with the email (EmailVerified as the
//     provider says) — unless the email is unverified and taken, in which
//     case the new user gets no email: an unverified claim never links to,
//     nor takes, an existing account.
//
// Disabled users are ErrUnauthorized.
func (s *Service) oidcUser(ctx context.Context, db store.DB, provider string, c idClaims) (User, error) {
	if err := s.ensureOIDCIndexes(ctx, db); err != nil {
		return User{}, err
	}
	idents := db.Collection(collIdentities)
	users := db.Collection(collUsers)
	id := identityID(provider, c.Subject)
	email := normalizedOrEmpty(c.Email)
	for attempt := 0; attempt < 3; attempt++ {
		ident, err := idents.Get(ctx, id)
		switch {
		case err == nil:
			u, err := s.identityUser(ctx, db, ident, email, c.EmailVerified)
			if errors.Is(err, errIdentityOrphan) {
				continue // its user was deleted: link afresh
			}
			return u, err
		case !errors.Is(err, store.ErrNotFound):
			return User{}, fmt.Errorf("OpenID sign-in: %w", err)
		}
		var existing store.Doc
		if email != "" {
			existing, err = findOne(ctx, users, fieldEmail, email)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return User{}, fmt.Errorf("OpenID sign-in: %w", err)
			}
		}
		if existing != nil && c.EmailVerified {
			u, err := s.linkVerified(ctx, db, existing)
			if err != nil {
				return User{}, err
			}
			if err := s.insertIdentity(ctx, idents, id, provider, c.Subject, email, u.ID); errors.Is(err, store.ErrDuplicate) {
				continue // a racing sign-in linked it: read it
			} else if err != nil {
				return User{}, err
			}
			return u, nil
		}
		u := User{ID: store.NewID(), Roles: []string{}, CreatedAt: s.now()}
		if existing == nil && email != "" {
			u.Email, u.EmailVerified = email, c.EmailVerified
		}
		if _, err := users.Insert(ctx, u.doc()); errors.Is(err, store.ErrDuplicate) {
			continue // the email was taken meanwhile: decide again
		} else if err != nil {
			return User{}, fmt.Errorf("OpenID sign-in: create user: %w", err)
		}
		err = s.insertIdentity(ctx, idents, id, provider, c.Subject, email, u.ID)
		if errors.Is(err, store.ErrDuplicate) {
			// A racing first sign-in of the same subject won. It may have
			// linked to our new user by its email: drop ours only if no
			// identity points to it.
			s.dropUnlinkedUser(ctx, db, u.ID)
			continue
		}
		if err != nil {
			return User{}, err
		}
		return u, nil
	}
	return User{}, fmt.Errorf("%w: OpenID sign-in raced too often; retry", ErrConflict)
}

var errIdentityOrphan = errors.New("identity without user")

// dropUnlinkedUser deletes a user that a lost race created, unless an
// identity links to it by now.
func (s *Service) dropUnlinkedUser(ctx context.Context, db store.DB, id string) {
	n, err := db.Collection(collIdentities).Count(ctx, store.Compare{Path: fieldUserID, Op: store.OpEq, Value: id})
	if err != nil || n > 0 {
		return
	}
	if d, err := db.Collection(collUsers).Get(ctx, id); err == nil {
		_ = db.Collection(collUsers).Delete(ctx, id, store.DocVersion(d))
	}
}

// identityUser returns the user an identity points to, marking its email
// verified when the provider now vouches for that very email.
func (s *Service) identityUser(ctx context.Context, db store.DB, ident store.Doc, email string, verified bool) (User, error) {
	users := db.Collection(collUsers)
	doc, err := users.Get(ctx, docString(ident, fieldUserID))
	if errors.Is(err, store.ErrNotFound) {
		_ = db.Collection(collIdentities).Delete(ctx, store.DocID(ident), store.DocVersion(ident))
		return User{}, errIdentityOrphan
	}
	if err != nil {
		return User{}, fmt.Errorf("OpenID sign-in: %w", err)
	}
	if doc[fieldDisabled] == true {
		return User{}, fmt.Errorf("%w: user disabled", ErrUnauthorized)
	}
	if verified && email != "" && docString(doc, fieldEmail) == email && doc[fieldEmailVerified] != true {
		if nd, err := users.Update(ctx, store.DocID(doc), store.DocVersion(doc), store.Update{Set: map[string]any{fieldEmailVerified: true}}); err == nil {
			doc = nd
		}
	}
	u, err := userFromDoc(doc)
	if err != nil {
		return User{}, fmt.Errorf("OpenID sign-in: %w", err)
	}
	return u, nil
}

// linkVerified prepares an existing user for linking by a verified email:
// its email becomes verified and, if it was not before, the account is
// taken over (see oidcUser).
func (s *Service) linkVerified(ctx context.Context, db store.DB, doc store.Doc) (User, error) {
	if doc[fieldDisabled] == true {
		return User{}, fmt.Errorf("%w: user disabled", ErrUnauthorized)
	}
	u, err := userFromDoc(doc)
	if err != nil {
		return User{}, fmt.Errorf("OpenID sign-in: %w", err)
	}
	if u.EmailVerified {
		return u, nil
	}
	u.EmailVerified = true
	set := map[string]any{fieldEmailVerified: true}
	if _, ok := doc[fieldPasswordHash]; ok {
		// Whoever set the password did not prove the address; an empty
		// hash matches no password (the owner can reset it by mail).
		set[fieldPasswordHash] = ""
	}
	if _, err := db.Collection(collUsers).Update(ctx, u.ID, store.DocVersion(doc), store.Update{Set: set}); err != nil {
		if errors.Is(err, store.ErrVersionConflict) {
			return User{}, fmt.Errorf("%w: the user changed meanwhile; retry", ErrConflict)
		}
		return User{}, fmt.Errorf("OpenID sign-in: link: %w", err)
	}
	if err := s.revokeUserSessions(ctx, db, u.ID, ""); err != nil {
		return User{}, err
	}
	idents := db.Collection(collIdentities)
	others, err := findAll(ctx, idents, store.Query{Filter: store.Compare{Path: fieldUserID, Op: store.OpEq, Value: u.ID}})
	if err != nil {
		return User{}, fmt.Errorf("OpenID sign-in: link: %w", err)
	}
	for _, d := range others {
		_ = idents.Delete(ctx, store.DocID(d), store.DocVersion(d))
	}
	return u, nil
}

func (s *Service) insertIdentity(ctx context.Context, idents store.Collection, id, provider, subject, email, userID string) error {
	d := store.Doc{
		store.FieldID:         id,
		fieldIdentityProvider: provider,
		fieldIdentitySubject:  subject,
		fieldUserID:           userID,
		fieldCreatedAt:        store.FormatTime(s.now()),
	}
	if email != "" {
		d[fieldIdentityEmail] = email
	}
	if _, err := idents.Insert(ctx, d); err != nil {
		if errors.Is(err, store.ErrDuplicate) {
			return err
		}
		return fmt.Errorf("OpenID sign-in: link identity: %w", err)
	}
	return nil
}
