// The client session of TestClients (sqlfront/clienttest) with the npm
// mysql2 driver. Connection settings come from COHORT_HOST, COHORT_PORT,
// COHORT_USER, COHORT_PASSWORD and COHORT_DB. Prints "key: value" lines.
import mysql from 'mysql2/promise';

const env = process.env;
const conn = await mysql.createConnection({
  host: env.COHORT_HOST,
  port: Number(env.COHORT_PORT),
  user: env.COHORT_USER,
  password: env.COHORT_PASSWORD,
  database: env.COHORT_DB,
  ssl: { rejectUnauthorized: false }, // self-signed server certificate
  supportBigNumbers: true,
});

const fmt = (v) => (v === null ? 'NULL' : String(v));
const join = (rows, ncols) => rows.map((r) => r.slice(0, ncols).map(fmt).join(' ')).join('|');

async function rows(key, sql, ncols) {
  const [rs] = await conn.query({ sql, rowsAsArray: true });
  console.log(`${key}: ${join(rs, ncols)}`);
}

await rows('databases', 'SHOW DATABASES');
await rows('tables', 'SHOW TABLES');
await rows('describe', 'DESCRIBE profiles', 2);
await rows('count', "SELECT COUNT(*) FROM profiles WHERE country = 'US' AND age >= 18");
await rows('group', 'SELECT `plan`, COUNT(*) FROM profiles WHERE age >= 18 GROUP BY `plan` ORDER BY `plan`');
await rows('limit', 'SELECT person_id, country FROM profiles ORDER BY person_id LIMIT 5');

// execute: server-side prepared statements (binary protocol).
let [rs] = await conn.execute({ sql: 'SELECT COUNT(*) FROM profiles WHERE country = ? AND age > ?', rowsAsArray: true }, ['DE', 30]);
console.log(`prepared: ${join(rs)}`);
[rs] = await conn.execute({ sql: 'SELECT person_id, `plan`, age FROM profiles WHERE person_id = ?', rowsAsArray: true }, [3]);
console.log(`prepared_row: ${join(rs)}`);
// query with placeholders: parameters escaped on the client.
[rs] = await conn.query({ sql: 'SELECT COUNT(*) FROM profiles WHERE country = ? AND age > ?', rowsAsArray: true }, ['DE', 30]);
console.log(`prepared_client: ${join(rs)}`);

const [res] = await conn.query("INSERT INTO profiles (email, country, `plan`, age) VALUES ('new@client.example', 'ZZ', 'pro', 42)");
console.log(`insert: ${res.affectedRows}`);
await rows('inserted', "SELECT COUNT(*), MAX(age) FROM profiles WHERE country = 'ZZ'");
await conn.end();
