// Package snapshot writes and reads Parquet snapshots of one workspace:
// a directory per snapshot holding one Parquet file per table (profiles,
// events, identities) plus the identity graph (identifiers, merges) and a
// MANIFEST (framed with a CRC32C; sizes and CRC32C of every file; counters
// such as the last applied log sequence). The format is specified in
// docs/format/snapshot.md; testdata/v1 is a format-1 snapshot that must
// load for ever.
//
// Write is atomic (temporary directory, fsync of every file and of the
// directory, rename, fsync of the parent). Load restores the newest
// snapshot that verifies, logs and sets aside the ones that do not (a
// *durable.CorruptionError names the file and offset) and falls back to
// the previous one.
//
// It owns the layout of one workspace's snapshot directory and nothing
// else: not the choice of when to snapshot (package storage), not the log.
package snapshot
