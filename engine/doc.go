// Package engine is Cohort's in-memory columnar engine: workspaces holding
// profiles, events and identities as Arrow-backed column chunks, the ordered
// batch apply path (identify, track, alias, delete), identity resolution
// wiring, snapshot publication, and queries (predicate scans on a worker
// pool, behavioural predicates over events, aggregates, lazy row iteration).
//
// Sub-packages hold the artifacts: column (bitmaps, dictionaries, vectors),
// table (one table's chunks and snapshots), expr (predicate compilation and
// kernels), identity (identifier → person resolution).
//
// The engine must not import any frontend (SQL, HTTP, gRPC) or storage
// format; dep_test.go enforces it.
package engine
