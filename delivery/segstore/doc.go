// Package segstore keeps what segments leave behind in the durable log
// (NATS JetStream): their definitions (a key-value bucket, so every node
// and every restart sees the same versions), their enter/exit events (a
// stream that WatchSegment and campaigns consume) and their size samples
// (a stream queried by time).
//
// What it owns: the segment bucket and the two segment streams. What it
// must not touch: membership (engine/segment computes it), the ingest
// stream, SQL or network APIs.
package segstore
