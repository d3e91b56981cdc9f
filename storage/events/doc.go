// Package events seals a workspace's events into Parquet partitions by
// UTC day (dir/<yyyy-mm-dd>/e-<minID>-<maxID>-<crc32c>.parquet) once the
// day is older than the configured window, and reads them back by time
// range, so history beyond the window stays queryable from disk.
//
// Late events of a day already sealed go into another file of that day:
// the per-day watermark (highest event_id sealed) is recovered from the
// file names, so sealing is idempotent across restarts.
//
// Sealed days leave the engine's memory: the storage (storage/window.go)
// seals, then calls engine Workspace.DropEventsBefore, whose window
// (Snapshot.EventsFrom, EventsThrough) tells readers which copy of an
// event to read; the SQL events table unions memory with Scan (sqlfront
// events_cold.go). Store.Erase (erase.go) rewrites the partitions holding
// an erased person's events without them (storage's erasure queue runs it).
//
// It owns the files under one workspace's events directory and reads the
// engine's events table snapshot; it must not modify the engine.
package events
