// Package storage is the durable side of a Cohort node: it coordinates
// Parquet snapshots (storage/snapshot), profile history (storage/history)
// and sealed event partitions (storage/events) under one data directory,
// and the recovery that puts the engine back where the durable log says.
//
// Startup, in this order:
//
//	st, err := storage.Open(dataDir, storage.DefaultOptions())
//	e := engine.New(engine.Options{})
//	logSeqs, err := st.Restore(ctx, e) // newest valid snapshot per workspace
//	// replay the durable log after logSeqs[ws] for every workspace
//	// (ApplyLogged skips what a snapshot already holds), then:
//	go st.Run(ctx)                     // periodic + on-shutdown snapshots
//
// The ingest side trims the log with TrimPoint.
//
// Erasure (erase.go): every person the engine erases is queued (OnApplied
// hook, durable queue file under erasure/) and removed from profile
// history files, sealed event partitions and every snapshot by the next
// erasure pass (EraseDelay after it, resumed after a crash); the durable
// log is purged up to the new snapshot through the LogEraser the server
// sets (SetLogEraser), since the log belongs to ingest.
//
// What it owns: everything under the data directory's snapshots/, history/,
// events/ and erasure/ folders, and the engine's OnCreate/OnChanges hooks
// (history) and OnApplied hooks (erasure). What it must not touch: the
// durable log (ingest/ owns it; storage only says how far it may be
// trimmed, and calls the LogEraser it is given), the SQL layer, HTTP or
// gRPC. It imports
// the engine, never the other way round.
package storage
