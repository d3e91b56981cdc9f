// Package pqtable encodes engine rows (column.Value per column) as Parquet
// files with parquet-go, and decodes them back exactly. It is the one
// codec shared by snapshots, profile history and event partitions.
//
// Type mapping (every column is OPTIONAL so NULL round-trips):
//
//	string       BYTE_ARRAY (STRING), RLE_DICTIONARY encoded
//	int          INT64
//	float        DOUBLE
//	bool         BOOLEAN
//	timestamp    INT64 (TIMESTAMP(MICROS, UTC))
//	string_list  LIST<BYTE_ARRAY (STRING)>: NULL, empty and non-empty differ
//
// Parquet orders a group's fields by name; the engine's column order is
// kept by the caller (snapshot manifests, fixed schemas) and in the file's
// key/value metadata under "cohort.columns".
//
// It must not import the engine package (only engine/column).
package pqtable
