// Package events seals a workspace's events into Parquet partitions by
// UTC day (dir/<yyyy-mm-dd>/e-<minID>-<maxID>-<crc32c>.parquet) once the
// day is older than the configured window, and reads them back by time
// range, so history beyond the window stays queryable from disk.
//
// Late events of a day already sealed go into another file of that day:
// the per-day watermark (highest event_id sealed) is recovered from the
// file names, so sealing is idempotent across restarts.
//
// Not done yet (needs an engine change): dropping sealed days from the
// engine's memory. The engine keeps every event today. The change needed:
// a Workspace method that deletes (or drops whole chunks of) events with
// ts before a cutoff without touching profiles or identities, publishing a
// snapshot whose events table no longer holds them; behavioural predicates
// and SQL then union the in-memory table with Store.Scan for ranges before
// the window. Until then Seal only adds a durable, queryable copy. Erasure
// of a person must also rewrite the partitions holding their events
// (also not done).
//
// It owns the files under one workspace's events directory and reads the
// engine's events table snapshot; it must not modify the engine.
package events
