// Package gen generates deterministic, realistic customer-data-platform
// data sets: profiles (one row per person, ~20 attributes) and behavioural
// events (sorted by time, four properties), in columnar form.
//
// The same Options (Seed included) always give byte-identical data,
// whatever GOMAXPROCS is: work is split into fixed chunks (profiles) and
// fixed one-hour time buckets (events), each with its own PCG stream
// derived from the seed. All times are relative to Options.Now so queries
// written against Now are deterministic too.
//
// The columns are plain typed slices meant to be scanned by tight Go loops
// (the "plain-Go reference" of bench/compare) and to be loaded into other
// systems. Conventions:
//
//   - Low-cardinality strings are dictionary codes ([]uint8 or []uint16)
//     into a Dict; the all-ones code (Null8, Null16) is SQL NULL.
//   - High-cardinality strings (user_id, email) are an Arrow-like arena:
//     Strings{Offsets, Data, Valid}.
//   - person_id and event_id are implicit: row i has id i+1.
//   - Timestamps are int64 microseconds since the Unix epoch (whole seconds).
//   - Sparse numbers use a sentinel: Age 0 and NPSScore -1 are NULL.
//   - Purchase properties (amount, currency) are stored sparsely, only for
//     purchase events, in Events.Purchases/Amount/Currency.
//
// Profiles.Row and Events.Row copy one row into a caller-owned struct
// without allocating (strings point into the data set).
//
// Example:
//
//	opts := gen.DefaultOptions()
//	opts.Profiles, opts.Events = 10_000, 100_000
//	d, err := gen.Generate(ctx, opts)
//	if err != nil { ... }
//	var r gen.ProfileRow
//	for i := range d.Profiles.N {
//		d.Profiles.Row(i, &r)
//		_ = r.Email
//	}
package gen
