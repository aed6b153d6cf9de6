// Package push sends push notifications to the devices of an app's users
// through Apple's APNs (sideshow/apns2, token authentication) and Firebase
// Cloud Messaging HTTP v1 (spoken directly, with golang.org/x/oauth2 for the service account's tokens; docs/decisions/0011).
//
// # Installations
//
// An installation is one app on one device: its platform (ios, android,
// web), its token, topics, locale, time zone and app version. It lives in
// the environment's database (InstallationsCollection), unique by token:
// registering a token again updates the installation and moves it to the
// user who registered it last (or to nobody, for an anonymous caller).
//
// # Credentials
//
// Each environment has at most one APNs key (.p8, key id, team id, bundle
// id, sandbox or production) and one FCM service account, stored sealed
// with the node's keyring in the system database (CredentialsCollection)
// and never returned. SetAPNs and SetFCM check them with a real call
// before they store them. The APNs provider token of a key is shared by
// every node through the system database (ProviderTokensCollection) and
// replaced by compare-and-swap by the first node that finds it older than
// Config.TokenRefresh, so that APNs never sees more than one new token per
// key in that period, however many nodes run.
//
// # The send queue
//
// Send stores a notification (NotificationsCollection) and returns. A
// worker on any node claims it (a unique claim document per version, then
// a compare-and-swap, as the trigger runtime claims firings), pages
// through the matching installations in _id order and writes them into
// batches of Config.BatchSize installations, each with its due time
// (scheduleAt, or scheduleAt's wall clock in each installation's time
// zone): a small header (BatchesCollection: state, due time, lease,
// counts) and its items (BatchItemsCollection: tokens and outcomes), so
// that claims and Status read small documents. The planning cursor is
// kept in the notification, so a planner that dies is resumed by another
// without duplicate batches (batch ids are the notification id and page
// number).
//
// Workers claim due batches under a lease, send their items with bounded
// concurrency, and record each item's outcome in the batch: at every lease
// renewal, and when the batch ends or is released. A node that stops
// (Shutdown) stops starting sends, waits for those in flight, records them
// and releases the batch, so each token gets exactly one request. A node
// that dies leaves its batch to be claimed again when the lease ends: only
// the items sent since the last recorded checkpoint of that one batch are
// sent again, with the same apns-id, apns-collapse-id and FCM message id
// (derived from the notification and installation ids).
//
// 429 and 5xx answers are retried with backoff, honouring Retry-After;
// tokens that APNs answers Unregistered or BadDeviceToken, or FCM
// UNREGISTERED or INVALID_ARGUMENT about the registration token, are
// deleted. Status sums the batches
// into counts and explains missing or refused credentials in Reason.
package push
