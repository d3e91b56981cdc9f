// Package asof answers "who was in this segment on 1 November": the
// persons who satisfied a condition at a past time, from the current
// snapshot and the profile history written by storage/history.
//
//	src := historyWriter // or history.NewReader(dir), or SourceFunc(store.ScanHistory bound to a workspace)
//	members, err := asof.Members(ctx, ws.Snapshot(), cond, nov1, src)
//
// # How
//
// The profile rows as they were at `at` differ from the current ones only
// for the persons with a recorded change after `at`. So:
//
//   - The history is read for changes with At > at only (the reader skips
//     files whose time range ends at or before `at` by their names), and
//     column by column when the Source offers ScanProjected
//     (ProjectedSource: history.Writer and history.Reader do). For each
//     profile and each column the condition reads, the first such change,
//     in application order, gives the value at `at`: its Old. A profile
//     whose changes after `at` are all to other columns is as it is now.
//   - Those profiles are rebuilt (current values, overridden by the values
//     at `at`) into a small private table with the profile schema, and the
//     condition is evaluated there by the engine's own compiled program
//     (expr.Compile): NULLs, types and collation are those of the live
//     path because the code is.
//   - Every other profile is as it is now: the condition is evaluated over
//     the snapshot with Snapshot.PersonSet, the vectorized scan segments
//     use, and the rebuilt profiles' current rows are taken out of that
//     result.
//
// Both sides add created_at <= at: a profile created later is no member.
// The two sides run concurrently (snapshot scans on the engine's workers,
// history decoding beside them); the cost grows with the changes after
// `at`, not with the age of `at`: about a second of CPU for a million
// changes (bench_test.go).
//
// Behavioural predicates (Did) are evaluated once each, with
// Snapshot.PersonSet at now = at and restricted to what was known then:
// events with ts <= at and received_at <= at (or received_at NULL). Their
// person bitmaps are tested with InBitmap on both sides, as the engine's
// own lowering does.
//
// The boundary is inclusive everywhere: the state at `at` includes the
// changes, profiles and events stamped exactly `at` (µs), as a snapshot
// taken right after applying them and queried with now = at would.
//
// # What it cannot reconstruct
//
//   - first_seen, last_seen and updated_at move with every event and are
//     not in the history: a condition over them fails with ErrNotRecorded
//     (the current values would silently answer a different question).
//   - Erased persons: their profiles, events and history are gone; they
//     are members at no time.
//   - Identity merges after `at` are applied as of now. A profile merged
//     into another after `at` no longer exists and is not reported (its
//     history records are counted in Stats.Unattached); the surviving
//     profile is evaluated with its own values at `at` (the merge's changes
//     are in the history and are undone), but its behavioural predicates
//     count the events of every person merged into it. A profile that only
//     moved to a new person id (merge into a person without a profile) is
//     reported under its id at `at`.
//   - Events outside the in-memory window (Snapshot.EventsFrom) are not
//     read from disk: a behavioural predicate whose window starts before
//     it answers from the in-memory events only, as the live path does,
//     and Stats.EventsIncomplete says so.
//   - The history is keyed by operation time, not arrival time: a change
//     whose operation is stamped before `at` but that arrived after it
//     counts as known at `at`; out-of-order operations for one profile
//     (a backfill with older timestamps after newer ones) make the answer
//     the value before the first later-stamped change in application
//     order, not an event-time replay.
//   - A profile imported after `at` with an explicit created_at before
//     `at` counts as existing at `at`, with the attributes set after `at`
//     as NULL.
package asof
