"""Prepared statements with bound parameters through ODBC (pyodbc over
unixODBC and the MariaDB ODBC driver), for TestClients
(sqlfront/clienttest). The DSN is COHORT_DSN (ODBCSYSINI/ODBCINI point to
its definition). Prints "key: value" lines."""

import os

import pyodbc


def fmt(v):
    return "NULL" if v is None else str(v)


conn = pyodbc.connect("DSN=" + os.environ["COHORT_DSN"], autocommit=True)
cur = conn.cursor()
cur.execute("SELECT COUNT(*) FROM profiles WHERE country = ? AND age > ?", "DE", 30)
print("prepared: " + "|".join(" ".join(fmt(v) for v in r) for r in cur.fetchall()))
cur.execute("SELECT person_id, `plan`, age FROM profiles WHERE person_id = ?", 3)
print("prepared_row: " + "|".join(" ".join(fmt(v) for v in r) for r in cur.fetchall()))
conn.close()
