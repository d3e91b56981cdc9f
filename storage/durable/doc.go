// Package durable holds the small pieces every durable file of Cohort's
// storage layer is written and checked with: atomic file creation (temp
// file → fsync → rename → fsync directory), CRC32C checksums, and the typed
// CorruptionError that names the file and the offset where a problem was
// found.
//
// It owns no file format and must not import the engine.
package durable
