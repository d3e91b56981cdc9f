// Package column owns the engine's physical data structures: selection
// bitmaps, append-only string dictionaries, typed column vectors backed by
// Arrow arrays (with frame-of-reference narrowing and sparse encodings),
// chunks and copy-on-write paged arrays.
//
// It knows nothing about tables, predicates, SQL, HTTP or storage formats:
// those live in engine, engine/expr and the frontends. Everything here is
// safe for one writer and many readers under the publication rule written in
// vec.go: a buffer visible to a published snapshot is never mutated at a
// position that snapshot can see.
package column
