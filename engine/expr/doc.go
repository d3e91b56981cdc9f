// Package expr compiles row predicates over one table into Programs that
// evaluate a chunk at a time into selection bitmaps (Eval, EvalWithin), or
// one row at a time for real-time re-evaluation (Match).
//
// It owns the predicate tree (Cmp, In, Between, IsNull, Like, Contains,
// InBitmap, And, Or, Not, True/False and time constants), its compilation
// against a column.Schema (name resolution, type checks, three-valued NOT
// normalisation, string predicates resolved to dictionary codes once), and the
// scan kernels: tight loops over the raw value buffers of column.Vec that build
// bitmap words branch-free, with adaptive AND (dense passes, then "refine" over
// the surviving rows once the selection is sparse) and chunk pruning by stats.
//
// It must not know about SQL, HTTP, engine tables, snapshots or the worker
// pool: the engine decides which chunks to scan and on which goroutine, the
// frontends translate their expressions into this tree. It depends only on
// engine/column and the standard library.
//
// # Semantics
//
// NULL: every leaf except IS NULL is unknown on a NULL row, so neither the
// leaf nor its negation selects the row (SQL three-valued logic). NOT is pushed
// down to the leaves at compile time (negation normal form).
//
// NaN: floats compare as Go and IEEE 754 do. NaN is a value, not NULL: =, <,
// <=, >, >=, IN and BETWEEN are false for NaN on either side, so their
// negations (!=, NOT IN, NOT BETWEEN, NOT x > c) are true for a NaN row.
//
// Mixed numbers: an int column compared with a float constant (and a float
// column with an int constant) compares the exact mathematical values, so
// age > 20.5 means age >= 21 and no rounding of large int64 happens.
//
// Dictionaries: a Program is bound to the dictionary snapshot (DictView) it
// was compiled with. String predicates are resolved to code sets once. A code
// past the snapshot (a string added later) never satisfies a positive string
// predicate (and so satisfies its negation). This is exact for = and IN whose
// constants existed at compile time (a new code is a different string) and
// for everything when chunks and dictionary views come from the same
// published snapshot; otherwise recompile against the newer snapshot.
//
// Concurrency: a Program is immutable after Compile; Eval may run on many
// goroutines at once, each with its own Scratch. Match needs no Scratch.
package expr
