"""The client session of TestClients (sqlfront/clienttest) with PyMySQL and
SQLAlchemy (Debian python3-pymysql, python3-sqlalchemy), including the
reflection of the profiles table. Connection settings come from COHORT_HOST,
COHORT_PORT, COHORT_USER, COHORT_PASSWORD and COHORT_DB. Prints "key: value"
lines."""

import os
import ssl

import pymysql
import sqlalchemy as sa

HOST, PORT = os.environ["COHORT_HOST"], int(os.environ["COHORT_PORT"])
USER, PASSWORD, DB = os.environ["COHORT_USER"], os.environ["COHORT_PASSWORD"], os.environ["COHORT_DB"]


def tls():
    # The server's certificate is self-signed: TLS without verification.
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def fmt(v):
    return "NULL" if v is None else str(v)


def rows(cur, key, sql, args=None, ncols=None):
    cur.execute(sql, args)
    print(f"{key}: " + "|".join(" ".join(fmt(v) for v in r[:ncols]) for r in cur.fetchall()))


conn = pymysql.connect(host=HOST, port=PORT, user=USER, password=PASSWORD, database=DB, ssl=tls(), autocommit=True)
with conn.cursor() as cur:
    rows(cur, "databases", "SHOW DATABASES")
    rows(cur, "tables", "SHOW TABLES")
    rows(cur, "describe", "DESCRIBE profiles", ncols=2)
    rows(cur, "count", "SELECT COUNT(*) FROM profiles WHERE country = 'US' AND age >= 18")
    rows(cur, "group", "SELECT `plan`, COUNT(*) FROM profiles WHERE age >= 18 GROUP BY `plan` ORDER BY `plan`")
    rows(cur, "limit", "SELECT person_id, country FROM profiles ORDER BY person_id LIMIT 5")
    # PyMySQL binds parameters on the client (its only mode).
    rows(cur, "prepared", "SELECT COUNT(*) FROM profiles WHERE country = %s AND age > %s", ("DE", 30))
    rows(cur, "prepared_row", "SELECT person_id, `plan`, age FROM profiles WHERE person_id = %s", (3,))
    n = cur.execute("INSERT INTO profiles (email, country, `plan`, age) VALUES ('new@client.example', 'ZZ', 'pro', 42)")
    print(f"insert: {n}")
    rows(cur, "inserted", "SELECT COUNT(*), MAX(age) FROM profiles WHERE country = 'ZZ'")
conn.close()

# SQLAlchemy: inspection and reflection as ORMs and BI tools do them.
url = sa.engine.URL.create("mysql+pymysql", username=USER, password=PASSWORD, host=HOST, port=PORT, database=DB)
engine = sa.create_engine(url, connect_args={"ssl": tls()})
insp = sa.inspect(engine)
print("sa_tables: " + "|".join(sorted(insp.get_table_names())))
profiles = sa.Table("profiles", sa.MetaData(), autoload_with=engine)
print("sa_columns: " + "|".join(c.name for c in profiles.columns))
print("sa_column_types: " + "|".join(f"{c.name} {c.type}" for c in profiles.columns))
print("sa_primary_key: " + "|".join(c.name for c in profiles.primary_key.columns))
q = sa.select(sa.func.count()).select_from(profiles).where(profiles.c.country == sa.bindparam("c"), profiles.c.age > sa.bindparam("a"))
with engine.connect() as c:
    print(f"sa_count: {c.execute(q, {'c': 'DE', 'a': 30}).scalar()}")
engine.dispose()
