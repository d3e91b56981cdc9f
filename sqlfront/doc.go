// Package sqlfront serves the engine over the MySQL wire protocol with
// go-mysql-server (GMS) v0.20.0.
//
// Every engine workspace is a MySQL database holding three tables,
// profiles, events and identities, whose columns are the engine's columns
// read from the latest snapshot on every query (a new attribute is a new
// column at once). One query reads one engine snapshot: the first table
// access of a query pins it in the session (see session.go).
//
// Types. Engine types map to MySQL types as follows:
//
//	string      VARCHAR(16383) COLLATE utf8mb4_0900_bin
//	int         BIGINT
//	float       DOUBLE
//	bool        TINYINT(1) (BOOLEAN)
//	timestamp   DATETIME(6), UTC
//	string_list JSON (an array of strings)
//
// Strings use the binary collation utf8mb4_0900_bin on purpose: the engine
// compares strings by bytes (dictionary codes), so with a binary, NO PAD
// collation a pushed-down comparison, IN or LIKE means exactly what GMS
// would compute. Use LOWER(col) = 'x' (evaluated by GMS) for a
// case-insensitive match.
//
// Pushdown. GMS v0.20.0 never calls sql.FilteredTable; filters reach a
// table through sql.IndexSearchableTable.LookupForExpressions. The tables
// translate every conjunct the engine evaluates exactly (translate.go)
// into an engine.Cond carried by a custom sql.Index (index.go); the rest
// stays in GMS as the residual filter. Only conjuncts whose every field is
// a column of the scanned table instance (its table id in the plan, set by
// scopeRule) are pushed: in a correlated subquery, a predicate over the
// outer row, even of the same table, stays in GMS. Behavioural subqueries
// over events (IN / NOT IN / EXISTS / NOT EXISTS) are recognised by a
// pre-analyzer rule (behaviour.go) and become engine Did conditions;
// aggregates over a pushed-down scan are answered by Snapshot.Aggregate
// (aggregate.go).
// Options.DisablePushdown turns all of it off: GMS then evaluates
// everything, which the differential test uses as its oracle.
//
// Writes (write.go): INSERT/UPDATE on profiles become identify operations,
// INSERT on events track operations, DELETE on profiles erases persons;
// they go through Options.Applier. The identifier of an identify or track
// is taken from, in order: person_id (an existing person), user_id, email,
// anonymous_id, phone columns of the inserted row.
//
// History (history.go): with Options.History, every workspace also holds
// the read-only table profile_history (person_id, attribute, old_value,
// new_value, changed_at, source, value_type), read from a HistorySource
// (cmd/cohort adapts storage/history). Values are LONGTEXT as CAST(col AS
// CHAR) renders them, value_type naming the engine type; person ids are
// canonical in the query's snapshot, changes of batches after it and of
// erased persons are not shown. Conjuncts on changed_at become the time
// range of the scan (files outside are not opened) while GMS still
// evaluates every conjunct; the range is bound to the scan's own table id
// in the final plan (historyRule), so a correlated predicate on an outer
// row's changed_at never narrows an inner scan.
//
// Segments (segments.go, segments_time.go, segment_views.go,
// segment_tables.go): with Options.Segments (a segment.Registry), the
// views of a workspace database are its segments.
//
//	CREATE VIEW name AS SELECT person_id FROM profiles WHERE ...
//	CREATE OR REPLACE VIEW name AS ...   -- a new version of the segment
//	DROP VIEW [IF EXISTS] name
//	SHOW CREATE VIEW name; SHOW FULL TABLES; information_schema.views
//	SELECT * FROM name; SELECT COUNT(*) FROM name
//	SELECT * FROM segments          -- name, version, definition, members,
//	                                -- time_dependent, created_at, updated_at
//	SELECT * FROM segment_members   -- segment, person_id (real time)
//
// A definition is compiled by CompileSegment: GMS parses and analyzes it
// in the workspace's database, and it is accepted only if the outer query
// is a plain projection of person_id from profiles (no join, grouping,
// ordering or limit) and the pushdown took the whole WHERE (no residual
// filter), which the engine condition of the profiles scan then is.
// Behavioural subqueries may appear anywhere in AND / OR / NOT trees
// (behaviour_tree.go; also for ordinary queries). Relative time stays
// relative: before analysis, comparisons of a timestamp column with NOW()
// ± INTERVAL n (fixed-length units) become relCmps, which GMS does not
// fold into literals, translated to expr.TimeOffset; time bounds on
// events.ts become the Did's Since/Until, so the segment manager schedules
// exits when a window passes. Any other use of the current time (CURDATE(),
// INTERVAL n MONTH, RAND()) is refused rather than frozen. A rejection
// wraps ErrInvalidSegment with the parser's, the analyzer's or the
// reason's message, naming the conjuncts the engine cannot evaluate.
//
// GMS runs CREATE OR REPLACE VIEW as DROP then CREATE: segmentDDLRule
// replaces CREATE VIEW over a Cohort database by a node that compiles and
// defines in one step (the old version stays if the new one is invalid).
// GMS reads view definitions from the database on every statement (no
// session cache for a ViewDatabase), so segments are visible to every
// connection at once. The view's text is the segment's SQL with tables
// qualified by the workspace. SELECT from a view evaluates the definition
// at the query's NOW() through the usual pushdown (COUNT(*) over it is an
// engine aggregate, viewCountRule); segments and segment_members read the
// manager's real-time state (segment = 'x' and person_id = n narrow the
// segment_members scan). Persistence is the server owner's: the manager's
// OnDefine/OnDrop store Info (Info.SQL is the definition as written), and
// at startup the owner calls CompileSegment on it and Manager.Define with
// the stored Version and CreatedAt.
//
// Segments over time (segment_history.go): with Options.SegmentSizes, the
// table segment_sizes (segment, version, sampled_at, members) serves the
// recorded size samples, segment = 'x' / IN and bounds on sampled_at
// narrowing the read; with Options.Segments and Options.MembersAsOf, the
// table segment_members_as_of (segment, as_of, person_id) lists the members
// of the pinned segments at the pinned times: the segment's current
// condition (Manager.Cond) evaluated by MembersAsOf over the query's
// snapshot and the profile history (cmd/cohort: storage/asof). A scan whose
// query does not pin both segment = '<name>' and as_of = '<timestamp>'
// (IN lists, BETWEEN t AND t) fails with an error naming both; as for
// profile_history, the sets are bound to the scan's own conjuncts in the
// final plan (segmentHistoryRule).
//
// Event window (events_cold.go): when the engine keeps only recent events
// in memory (Snapshot.EventsFrom H, EventsThrough E), events stays one
// table: the events with ts < H and event_id <= E are read from
// Options.EventArchive (the sealed day partitions, only the days the ts
// conjuncts allow), every other one from memory; both sides are filtered
// by the same pushed-down engine condition. Behavioural subqueries and
// aggregates whose events reach before H are not pushed down (GMS
// evaluates them over the union: same answers, slower); inside the window
// they are, as before.
//
// Users (users.go): with a root password (or InsecureNoAuth) the mysql
// database is enabled and persisted to DataDir/mysql.db; CREATE USER and
// GRANT ... ON <workspace>.* restrict a user to workspaces.
package sqlfront
