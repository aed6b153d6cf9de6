// Package objectstore keeps the JSON objects apps store in Skybridge
// (profiles, carts, notes): collections with per-collection settings
// (rules, JSON Schema, indexes, sync conflict strategy), objects with the
// system fields of the store, per-object ACLs, queries with keyset
// pagination, a change feed, and the Idempotency-Key records of POSTs.
// The api package binds it to HTTP; it imports neither api nor auth: the
// caller is a Principal and the environment an Env.
//
// Layout. Objects of the client collection "todos" live in the store
// collection "o_todos" of the environment's database, so that no client
// collection name can reach that database's other collections (users,
// sessions, ...). Settings live in "objectCollections" (_id = collection
// name) and idempotency records in "idempotencyKeys", both owned by this
// package. A collection exists when its settings document exists: it is
// created by an admin (PutSettings) or by a first write, which only the
// server key may do unless the environment allows client creation (Parse's
// allowClientClassCreation; the api turns it on for "dev").
//
// Permissions. Each collection has a rule for read, create, update and
// delete: public, authenticated, owner, role:<name> or server; the server
// key bypasses them all. Under owner, a user reaches the objects whose
// _owner he is, and those whose _acl lists (read for reads, write for
// updates and deletes) name him, one of his roles ("role:x") or everyone
// ("*", as in Parse). The _acl extends only the owner rule: the other
// rules decide for the whole collection, as a query filter can (a List
// applies the read rule as an extra filter, never by dropping rows after
// the limit). An object the caller may not read is ErrNotFound, so its
// existence never leaks; one he may read but not write is ErrForbidden.
// For create, owner means authenticated: the creator becomes the owner.
//
// Writes. Every write is a compare-and-swap on _v, so a write never
// silently undoes one it did not see: with If-Match a concurrent change is
// ErrPreconditionFailed, without it the update is re-applied to the new
// version. System fields a client sends back unchanged (a GET-modify-PUT
// round trip) are ignored, and differing ones are refused by name, except
// _acl (writers may change it) and _owner (the server key may). Deletes
// write a tombstone (_deleted, system fields only) that sync and Changes
// see and every read treats as absent; creating an object with the id of
// a tombstone replaces it. Each write is checked for field names (no
// leading '$', no '.', at any depth), the collection's JSON Schema
// (errors with JSON Pointers), and the size limit, in that order.
//
// Settings are cached in memory for Config.SettingsCacheTTL; a node sees
// its own changes at once and other nodes' within the TTL.
package objectstore
