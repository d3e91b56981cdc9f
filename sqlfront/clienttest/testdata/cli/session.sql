-- The client session of TestClients (sqlfront/clienttest), run by the
-- mariadb CLI in batch mode: each section starts with a row section:<key>
-- (the insert section shows ROW_COUNT() of the INSERT).
SELECT 'section:databases';
SHOW DATABASES;
SELECT 'section:tables';
SHOW TABLES;
SELECT 'section:describe';
DESCRIBE profiles;
SELECT 'section:count';
SELECT COUNT(*) FROM profiles WHERE country = 'US' AND age >= 18;
SELECT 'section:group';
SELECT `plan`, COUNT(*) FROM profiles WHERE age >= 18 GROUP BY `plan` ORDER BY `plan`;
SELECT 'section:limit';
SELECT person_id, country FROM profiles ORDER BY person_id LIMIT 5;
-- A server-side prepared statement with parameters (text protocol).
PREPARE seg FROM 'SELECT COUNT(*) FROM profiles WHERE country = ? AND age > ?';
SET @country = 'DE', @age = 30;
SELECT 'section:prepared';
EXECUTE seg USING @country, @age;
DEALLOCATE PREPARE seg;
PREPARE one FROM 'SELECT person_id, `plan`, age FROM profiles WHERE person_id = ?';
SET @id = 3;
SELECT 'section:prepared_row';
EXECUTE one USING @id;
DEALLOCATE PREPARE one;
SELECT 'section:insert';
INSERT INTO profiles (email, country, `plan`, age) VALUES ('new@client.example', 'ZZ', 'pro', 42);
SELECT ROW_COUNT();
SELECT 'section:inserted';
SELECT COUNT(*), MAX(age) FROM profiles WHERE country = 'ZZ';
