// Package trigger is the durable runtime of `kind: Trigger` documents:
// it turns object changes, delays and cron schedules of every app
// environment's live deployment into firings stored in the system
// database, and runs each firing's flow (orchestration.Plan.Fire) on one
// node, once, with an idempotency key.
//
// # Enqueueing
//
// Object events come from each triggered collection's change feed
// (store.Collection.Changes, gap-free by _seq), never from the events bus:
// a cursor per (app, environment, trigger) in CursorsCollection is
// advanced after the firings of the changes it passed are stored. A
// trigger seen for the first time starts at the feed's end. Change types:
// created is an object's first version (_v 1), deleted a tombstone,
// updated any other write; a filter selects created and updated objects
// (tombstones carry no content, so deletions pass unfiltered). The feed
// shows each object once with its latest content, so writes of one
// object that come faster than a read coalesce into one event.
//
// Firing ids are hashes of their cause, so enqueueing is exactly-once on
// every store (a second insert of an id is store.ErrDuplicate):
//
//	event     (app, env, trigger, object id, _seq)   id = idempotency key
//	delay     (app, env, trigger, object id)         key = hash(id, _seq of the last event)
//	schedule  (app, env, trigger, scheduled instant) id = idempotency key
//
// A delayed trigger keeps one document per object: a later event moves
// its due time and gives it a new key while it is pending, is kept as
// `next` while it runs, and starts a new firing once it finished.
// Schedules are enqueued when their instant comes (within PollInterval);
// after a downtime only the latest missed instant fires, once.
//
// The node holding the feed lease (leases collection) reads the feeds
// and schedules; the bus only nudges it to read sooner than PollInterval.
//
// # Running
//
// Every node claims due firings: it inserts a claim document whose _id
// is the firing id and the version it read (unique, so exactly one node
// wins even where compare-and-swap is not atomic, as on FerretDB), then
// marks the firing running under its lease (Config.Lease). The flow runs
// on the environment's live plan; a delayed firing sees `object` as it is
// at fire time. Outcomes: done, skipped (unless was true, the trigger was
// removed, nothing is deployed), or a failure, retried with exponential
// backoff up to Config.MaxAttempts and then failed. A running firing
// whose lease expired (its node died) is claimed again and runs again
// with the same idempotency key: a firing runs at least once, and more
// than once only after a crash or a run longer than the lease. Shutdown
// stops claiming, lets running firings finish until its context ends and
// releases the rest to pending without counting an attempt.
package trigger
