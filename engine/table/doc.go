// Package table owns one columnar table: its schema (typed on first write),
// its sealed Arrow-backed chunks, its mutable tail, row deletion with
// copy-on-write delete bitmaps, and the publication of immutable snapshots.
//
// A Table has one writer. Readers only ever see a Snapshot, which no later
// write changes: a batch of writes becomes visible all at once when the
// writer calls Publish. The package knows nothing about persons, identities,
// predicates or any frontend.
package table
