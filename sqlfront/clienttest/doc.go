// Package clienttest runs one scripted SQL session through real MySQL
// clients against an in-process sqlfront server (TLS required, root
// password, a small generated workspace per client): the mariadb CLI,
// JDBC (MariaDB Connector/J), ODBC (MariaDB Connector/ODBC with unixODBC's
// isql), Python (PyMySQL and SQLAlchemy), Node (mysql2) and Go
// (go-sql-driver/mysql). Each client prints "key: value" lines that the
// test compares with values computed from the engine.
//
// A client whose runtime is not installed is skipped, naming the Debian or
// npm package; with COHORT_REQUIRE_CLIENTS=1 (set by .ci/run, which installs
// them all) a missing client fails the test instead.
package clienttest
