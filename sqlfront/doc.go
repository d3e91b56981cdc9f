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
// Users (users.go): with a root password (or InsecureNoAuth) the mysql
// database is enabled and persisted to DataDir/mysql.db; CREATE USER and
// GRANT ... ON <workspace>.* restrict a user to workspaces.
package sqlfront
