// Package history keeps profile_history: every profile attribute change
// the engine reports through Workspace.OnChanges (person, attribute, old
// and new value as typed columns, time, source message id), in immutable
// Parquet files whose names carry their batch-sequence and time ranges and
// CRC32C, so a time-range scan skips files by name alone.
//
// Writer buffers changes in memory (OnChanges runs under the engine's
// writer lock and must be quick) and writes a file on Flush (at every
// snapshot, up to the snapshot's batch, so no file straddles a snapshot),
// or when Tick finds the buffer past Options.RollRows or older than
// Options.RollInterval. After a restore, TruncateAfter removes files past
// the snapshot: the log replay produces those changes again.
//
// Reader.Scan / Records / Iter read the files of a time range; Writer.Scan
// (Store.ScanHistory) also reads the records not yet flushed, each record
// exactly once even while a flush runs: the SQL table profile_history
// reads through it (cmd/cohort/history.go).
//
// Writer.Erase (EraseDir without a writer) removes erased persons' records
// from the buffer and rewrites the files holding them (storage's erasure
// queue runs it).
//
// It owns the files of one workspace's history directory; it must not
// touch the engine beyond OnChanges and Snapshot().Seq.
package history
