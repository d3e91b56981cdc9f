// Package segment keeps segments — named, versioned conditions over a
// workspace's profiles — and their membership in real time.
//
// A Manager (one per workspace) evaluates a definition once over the whole
// workspace (a vectorized scan) and then keeps the membership current from
// the engine's OnApplied hook: only the persons a batch touched are
// re-evaluated, one engine.PointSet evaluation per person for every
// segment at once (over all cores for large batches: one walk of the
// person's events), and every change is reported as a Transition
// (entered/exited, with its cause). Conditions with relative time windows
// ("in the last 7 days") schedule each person at the next moment their
// answer can change by time alone (a wheel of per-second buckets), so
// people leave a window when it passes without any full re-scan. Segment
// sizes are sampled at an interval.
//
// What it owns: definitions in memory, membership bitmaps, the time wheel.
// What it must not touch: SQL (definitions arrive compiled to an
// engine.Cond, with their SQL text kept only for display and persistence),
// the durable log and files (transitions, samples and definitions leave
// through the Options callbacks), any network API.
package segment
