// Package identity resolves identifiers to persons for one workspace.
//
// It owns identifier → person resolution, the merge rules (per-type limits,
// blocked placeholder values, normalisation, priority), the merge log that
// says why two persons became one, and erasure with suppression of the
// erased identifiers. It knows nothing about tables, SQL, HTTP or storage
// formats: the engine's applier calls it, frontends read its frozen views,
// and storage persists it through Export, ExportSuppressed and Restorer.
//
// # Model
//
// Persons are uint32 ids allocated from 1 (0 means none); an id is never
// reused. An identifier is an ID{Type, Value}: "user_id", "anonymous_id",
// "email", "phone", "external:<name>" or any other type string. Resolve
// looks every identifier of a message up and then, in priority order
// (user_id > email > phone > external:* > anonymous_id > others; within a
// type, identifiers already attached before new ones, then request order),
// grows a group of persons and new identifiers as long
// as the group respects the per-type limits:
//
//   - a known identifier whose person would break a limit when joined to the
//     group (both hold a different user_id) is rejected as a conflict, and
//     its person is left alone;
//   - a new identifier that would break a limit (a second user_id) is
//     rejected and never attached;
//   - blocked values ("null", "0", "-1", all zeros and dashes, …) are
//     rejected and ignored; erased identifiers are rejected until Unsuppress.
//
// The request is thus attributed to the person of its highest-priority
// usable identifier. If the group holds no person, a new person is created
// (anonymous visitors get one too); if it holds several, they are merged
// into the one holding a user_id when exactly one does, else into the oldest
// (smallest id), and each merge is appended to the merge log with a human
// readable reason. If every identifier is rejected, Resolve returns an error
// wrapping ErrNoUsableIdentifier. Link (Segment's alias) follows the same
// rules for a pair.
//
// # Concurrency and memory
//
// A Graph has a single writer (the engine's apply loop) and is not safe for
// concurrent use. Readers use a *View from Freeze, taken after each applied
// batch: it costs O(pages), is immutable, and stays valid while the writer
// goes on. View.Canonical is two slice indexings.
//
// Identifiers are stored as keys in an append-only column.Dictionary
// (type code + value; canonical lower-case UUIDs packed into 16 bytes) whose
// codes index paged arrays: identifier → canonical person and a circular
// list of each person's identifiers; persons index the canonical person,
// the head of their identifier list, a circular list of merged members and
// per-limited-type counters. Merges are eager: every member and identifier
// of the absorbed group gets the new canonical id at once, so a lookup is a
// dictionary probe plus one array access and reads never chase parents. A
// merge costs O(members + identifiers) of the absorbed group.
package identity
