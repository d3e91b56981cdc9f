SELECT 'section:databases'
SHOW DATABASES
SELECT 'section:tables'
SHOW TABLES
SELECT 'section:describe'
DESCRIBE profiles
SELECT 'section:count'
SELECT COUNT(*) FROM profiles WHERE country = 'US' AND age >= 18
SELECT 'section:group'
SELECT `plan`, COUNT(*) FROM profiles WHERE age >= 18 GROUP BY `plan` ORDER BY `plan`
SELECT 'section:limit'
SELECT person_id, country FROM profiles ORDER BY person_id LIMIT 5
SELECT 'section:insert'
INSERT INTO profiles (email, country, `plan`, age) VALUES ('new@client.example', 'ZZ', 'pro', 42)
SELECT ROW_COUNT()
SELECT 'section:inserted'
SELECT COUNT(*), MAX(age) FROM profiles WHERE country = 'ZZ'
