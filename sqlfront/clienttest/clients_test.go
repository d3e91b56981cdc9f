package clienttest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/identity"
	"github.com/cohortdb/cohort/sqlfront"
)

// The session every client runs (the scripts under testdata spell the same
// SQL; keep them in step):
//
//	databases     SHOW DATABASES
//	tables        SHOW TABLES
//	describe      DESCRIBE profiles (Field and Type)
//	count         SELECT COUNT(*) FROM profiles WHERE country = 'US' AND age >= 18
//	group         SELECT `plan`, COUNT(*) FROM profiles WHERE age >= 18 GROUP BY `plan` ORDER BY `plan`
//	limit         SELECT person_id, country FROM profiles ORDER BY person_id LIMIT 5
//	prepared      SELECT COUNT(*) FROM profiles WHERE country = ? AND age > ?   ('DE', 30)
//	prepared_row  SELECT person_id, `plan`, age FROM profiles WHERE person_id = ?   (3)
//	insert        INSERT INTO profiles (email, country, `plan`, age) VALUES ('new@client.example', 'ZZ', 'pro', 42)   (affected rows)
//	inserted      SELECT COUNT(*), MAX(age) FROM profiles WHERE country = 'ZZ'
//
// Each prints one line "key: value": the rows joined by "|", the columns of
// a row by " ", NULL as "NULL".
var sessionKeys = []string{"databases", "tables", "describe", "count", "group", "limit", "prepared", "prepared_row", "insert", "inserted"}

const (
	password   = "Cl1ent-test pw" // a space on purpose: clients must quote it
	persons    = 400
	seed       = 7
	requireEnv = "COHORT_REQUIRE_CLIENTS"
)

// Every client has a workspace of its own (the session inserts a row).
var workspaces = []string{"cli", "golang", "jdbc", "node", "odbc", "python"}

var (
	countries = []string{"US", "us", "DE", "FR", "GB", "US"}
	plans     = []string{"free", "pro", "enterprise", "Pro"}
	t0        = time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
)

// fill writes persons profiles with every column type (and NULLs) and a few
// events into ws, the same for every seed.
func fill(t *testing.T, ws *engine.Workspace) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed*31))
	var ops []engine.Op
	for i := 1; i <= persons; i++ {
		at := t0.Add(-time.Duration(rng.IntN(90*24*3600)) * time.Second)
		traits := []engine.Field{{Name: "email", Value: column.String(fmt.Sprintf("p%d@example.com", i))}}
		add := func(name string, v column.Value) {
			if rng.IntN(7) != 0 {
				traits = append(traits, engine.Field{Name: name, Value: v})
			}
		}
		add("country", column.String(countries[rng.IntN(len(countries))]))
		add("plan", column.String(plans[rng.IntN(len(plans))]))
		add("age", column.Int(int64(rng.IntN(70)+10)))
		add("score", column.Float(float64(rng.IntN(1000))/8))
		add("vip", column.Bool(rng.IntN(3) == 0))
		add("signup_at", column.Micros(at.UnixMicro()))
		ids := []identity.ID{{Type: identity.TypeUserID, Value: fmt.Sprintf("u%d", i)}}
		ops = append(ops, engine.Op{Kind: engine.OpIdentify, IDs: ids, Traits: traits, At: at.UnixMicro()})
		for e := rng.IntN(3); e > 0; e-- {
			ops = append(ops, engine.Op{Kind: engine.OpTrack, IDs: ids, Event: []string{"page_view", "purchase"}[rng.IntN(2)],
				Props: []engine.Field{{Name: "amount", Value: column.Float(float64(rng.IntN(10000)) / 100)}}, At: at.Add(time.Hour).UnixMicro()})
		}
	}
	r, err := ws.Apply(context.Background(), ops)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Rejected) > 0 {
		t.Fatalf("rejected: %v", r.Rejected[0].Err)
	}
}

// profile is one row of the engine's profiles table.
type profile struct {
	id                 int64
	country, plan, age column.Value
	email              column.Value
}

func profiles(t *testing.T, eng *engine.Engine, workspace string) []profile {
	t.Helper()
	ws, err := eng.Workspace(workspace)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ws.Snapshot().Select(context.Background(), engine.Query{Table: engine.Profiles}, []string{"person_id", "country", "plan", "age", "email"})
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []profile
	for rows.Next() {
		v := rows.Values()
		out = append(out, profile{id: v[0].I, country: v[1], plan: v[2], age: v[3], email: v[4]})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(out, func(a, b profile) int { return int(a.id - b.id) })
	return out
}

func str(v column.Value) string {
	if v.Null() {
		return "NULL"
	}
	if v.Type == column.TypeInt {
		return strconv.FormatInt(v.I, 10)
	}
	return v.S
}

// mysqlType is the column type DESCRIBE shows for an engine type (the
// mapping documented in sqlfront/doc.go).
func mysqlType(t column.Type) string {
	switch t {
	case column.TypeString:
		return "varchar(16383)"
	case column.TypeInt:
		return "bigint"
	case column.TypeFloat:
		return "double"
	case column.TypeBool:
		return "tinyint(1)"
	case column.TypeTimestamp:
		return "datetime(6)"
	case column.TypeStringList:
		return "json"
	}
	return fmt.Sprintf("unknown type %d", t)
}

// expected computes the session's lines from the engine's data of workspace.
func expected(t *testing.T, eng *engine.Engine, workspace string) map[string]string {
	ps := profiles(t, eng, workspace)
	adult := func(p profile) bool { return !p.age.Null() && p.age.I >= 18 }
	var count, prepared int
	groups := map[string]int{}
	for _, p := range ps {
		if adult(p) {
			groups[str(p.plan)]++
			if str(p.country) == "US" {
				count++
			}
		}
		if str(p.country) == "DE" && !p.age.Null() && p.age.I > 30 {
			prepared++
		}
	}
	var keys []string
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { // NULL first, then bytes
		if a == "NULL" || b == "NULL" {
			return strings.Compare(strings.Replace(a, "NULL", "", 1), strings.Replace(b, "NULL", "", 1))
		}
		return strings.Compare(a, b)
	})
	var group, limit, row []string
	for _, k := range keys {
		group = append(group, fmt.Sprintf("%s %d", k, groups[k]))
	}
	for _, p := range ps[:5] {
		limit = append(limit, fmt.Sprintf("%d %s", p.id, str(p.country)))
	}
	for _, p := range ps {
		if p.id == 3 {
			row = append(row, fmt.Sprintf("3 %s %s", str(p.plan), str(p.age)))
		}
	}
	dbs := append(slices.Clone(workspaces), "information_schema", "mysql")
	slices.Sort(dbs)
	ws, _ := eng.Workspace(workspace)
	var describe []string
	for _, c := range ws.Snapshot().Profiles.Schema.Cols {
		describe = append(describe, c.Name+" "+mysqlType(c.Type))
	}
	if count == 0 || prepared == 0 || len(row) == 0 || len(groups) < 4 {
		t.Fatalf("fixture too thin: count %d, prepared %d, row %v, groups %v", count, prepared, row, groups)
	}
	return map[string]string{
		"databases":    strings.Join(dbs, "|"),
		"tables":       "events|identities|merges|profiles",
		"describe":     strings.Join(describe, "|"),
		"count":        strconv.Itoa(count),
		"group":        strings.Join(group, "|"),
		"limit":        strings.Join(limit, "|"),
		"prepared":     strconv.Itoa(prepared),
		"prepared_row": strings.Join(row, "|"),
		"insert":       "1",
		"inserted":     "1 42",
	}
}

// server is the in-process SQL server every client talks to.
type server struct {
	eng  *engine.Engine
	host string
	port string
}

func startServer(t *testing.T) *server {
	t.Helper()
	eng := engine.New(engine.Options{})
	for _, w := range workspaces {
		ws, err := eng.CreateWorkspace(w)
		if err != nil {
			t.Fatal(err)
		}
		fill(t, ws)
	}
	srv, err := sqlfront.New(eng, sqlfront.Options{
		Addr:         "127.0.0.1:0",
		RootPassword: password,
		RequireTLS:   true, // every client must really speak TLS
		DataDir:      t.TempDir(),
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	addr := srv.Addr().String()
	i := strings.LastIndexByte(addr, ':')
	return &server{eng: eng, host: addr[:i], port: addr[i+1:]}
}

// env is the environment of a client script: where to connect.
func (s *server) env(db string) []string {
	return append(os.Environ(), "COHORT_HOST="+s.host, "COHORT_PORT="+s.port, "COHORT_USER=root",
		"COHORT_PASSWORD="+password, "COHORT_DB="+db)
}

// missing skips the test because a client runtime is not installed, or
// fails it under COHORT_REQUIRE_CLIENTS=1.
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(requireEnv) != "" {
		t.Fatalf("%s (%s is set: every client must run)", msg, requireEnv)
	}
	t.Skip(msg)
}

func lookPath(t *testing.T, file, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(file)
	if err != nil {
		missing(t, "%s not found: install the Debian package %s", file, pkg)
	}
	return p
}

// run runs a client and returns its standard output.
func run(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s: %v", filepath.Base(cmd.Path), time.Since(start).Round(time.Millisecond))
	if err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(cmd.Args, " "), err, stdout.String(), stderr.String())
	}
	if stderr.Len() > 0 {
		t.Logf("stderr:\n%s", stderr.String())
	}
	return stdout.String()
}

// parseLines reads "key: value" lines.
func parseLines(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(strings.TrimRight(l, "\r"), ": "); ok {
			m[k] = v
		} else if k, ok := strings.CutSuffix(strings.TrimRight(l, "\r"), ":"); ok {
			m[k] = ""
		}
	}
	return m
}

// parseSections reads the output of a SQL script whose sections start with
// a row "section:<key>" and whose rows have columns separated by sep.
func parseSections(out, sep string) map[string]string {
	m := map[string]string{}
	key := ""
	var rows []string
	flush := func() {
		if key != "" {
			m[key] = strings.Join(rows, "|")
		}
		rows = nil
	}
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimRight(l, "\r")
		if k, ok := strings.CutPrefix(strings.TrimSpace(l), "section:"); ok {
			flush()
			key = k
			continue
		}
		if key == "" || strings.TrimSpace(l) == "" {
			continue
		}
		cols := strings.Split(l, sep)
		for i := range cols {
			cols[i] = strings.TrimSpace(cols[i])
		}
		if key == "describe" && len(cols) > 2 {
			cols = cols[:2]
		}
		rows = append(rows, strings.Join(cols, " "))
	}
	flush()
	return m
}

// check compares a client's lines with the expected ones (and extra keys
// of that client), and the row the session inserted with the engine.
func check(t *testing.T, s *server, db string, got, want map[string]string) {
	t.Helper()
	keys := slices.Clone(sessionKeys)
	for k := range want {
		if !slices.Contains(keys, k) {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: missing", k)
		} else if g != want[k] {
			t.Errorf("%s:\n got  %s\n want %s", k, g, want[k])
		}
	}
	var zz []profile
	for _, p := range profiles(t, s.eng, db) {
		if str(p.country) == "ZZ" {
			zz = append(zz, p)
		}
	}
	if len(zz) != 1 || str(zz[0].email) != "new@client.example" || str(zz[0].plan) != "pro" || str(zz[0].age) != "42" {
		t.Errorf("inserted profile in the engine: %+v", zz)
	}
}

func TestClients(t *testing.T) {
	s := startServer(t)
	want := map[string]map[string]string{}
	for _, w := range workspaces {
		want[w] = expected(t, s.eng, w)
	}
	testdata, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	with := func(m map[string]string, kv ...string) map[string]string {
		m = maps.Clone(m)
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	clients := []struct {
		name string
		run  func(t *testing.T, db string) (got, want map[string]string)
	}{
		{"cli", func(t *testing.T, db string) (map[string]string, map[string]string) {
			return parseSections(runCLI(t, s, db, testdata), "\t"), want[db]
		}},
		{"golang", func(t *testing.T, db string) (map[string]string, map[string]string) {
			return parseLines(runGo(t, s, db)), with(want[db], "prepared_interpolated", want[db]["prepared"])
		}},
		{"jdbc", func(t *testing.T, db string) (map[string]string, map[string]string) {
			w := want[db]
			cols := columnNames(w)
			return parseLines(runJava(t, s, db, testdata)), with(w, "prepared_server", w["prepared"], "prepared_row_server", w["prepared_row"],
				"meta_tables", w["tables"], "meta_columns", strings.Join(cols, "|"), "meta_primary_key", "person_id",
				"meta_column_types", columnTypes(w, map[string]string{"bigint": "BIGINT -5", "varchar(16383)": "VARCHAR 12",
					"double": "DOUBLE 8", "tinyint(1)": "BIT -7", "datetime(6)": "DATETIME 93"}))
		}},
		{"node", func(t *testing.T, db string) (map[string]string, map[string]string) {
			return parseLines(runNode(t, s, db, testdata)), with(want[db], "prepared_client", want[db]["prepared"])
		}},
		{"odbc", func(t *testing.T, db string) (map[string]string, map[string]string) {
			return parseSections(runODBC(t, s, db, testdata), "\t"), want[db]
		}},
		{"python", func(t *testing.T, db string) (map[string]string, map[string]string) {
			w := want[db]
			cols := columnNames(w)
			return parseLines(runPython(t, s, db, testdata)), with(w, "sa_tables", w["tables"], "sa_columns", strings.Join(cols, "|"),
				"sa_primary_key", "person_id", "sa_count", w["prepared"],
				"sa_column_types", columnTypes(w, map[string]string{"bigint": "BIGINT", "varchar(16383)": "VARCHAR(16383)",
					"double": "DOUBLE", "tinyint(1)": "TINYINT", "datetime(6)": "DATETIME"}))
		}},
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, w := c.run(t, c.name)
			check(t, s, c.name, got, w)
			for k, v := range got {
				if _, ok := w[k]; !ok {
					t.Logf("%s: %s", k, v) // informational lines (types as the client sees them)
				}
			}
			if t.Failed() {
				t.Logf("client output: %q", got)
			}
		})
	}
}

// columnNames returns the column names of profiles in the expected lines w.
func columnNames(w map[string]string) []string {
	var cols []string
	for _, c := range strings.Split(w["describe"], "|") {
		cols = append(cols, strings.Fields(c)[0])
	}
	return cols
}

// columnTypes returns "name type|..." of profiles, the types as a client
// names them (types maps DESCRIBE's types to the client's).
func columnTypes(w map[string]string, types map[string]string) string {
	var out []string
	for _, c := range strings.Split(w["describe"], "|") {
		name, typ, _ := strings.Cut(c, " ")
		out = append(out, name+" "+types[typ])
	}
	return strings.Join(out, "|")
}

func runCLI(t *testing.T, s *server, db, testdata string) string {
	mysql, err := exec.LookPath("mariadb")
	if err != nil {
		mysql = lookPath(t, "mysql", "mariadb-client")
	}
	script, err := os.Open(filepath.Join(testdata, "cli", "session.sql"))
	if err != nil {
		t.Fatal(err)
	}
	defer script.Close()
	cmd := exec.CommandContext(t.Context(), mysql, "--no-defaults", "--host="+s.host, "--port="+s.port, "--user=root",
		"--ssl", "--skip-ssl-verify-server-cert", "--batch", "--skip-column-names", db)
	cmd.Env = append(s.env(db), "MYSQL_PWD="+password)
	cmd.Stdin = script
	return run(t, cmd)
}

// connectorJ is the jar of Debian's libmariadb-java.
const connectorJ = "/usr/share/java/mariadb-java-client.jar"

func runJava(t *testing.T, s *server, db, testdata string) string {
	java := lookPath(t, "java", "default-jre-headless")
	if _, err := os.Stat(connectorJ); err != nil {
		missing(t, "%s not found: install the Debian package libmariadb-java", connectorJ)
	}
	cmd := exec.CommandContext(t.Context(), java, "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-cp", connectorJ, "Session.java")
	cmd.Dir = filepath.Join(testdata, "java")
	cmd.Env = s.env(db)
	return run(t, cmd)
}

func runPython(t *testing.T, s *server, db, testdata string) string {
	// Debian's python3 (the packages live in its dist-packages), not one
	// that PATH may put first.
	py := "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		py = lookPath(t, "python3", "python3")
	}
	for mod, pkg := range map[string]string{"pymysql": "python3-pymysql", "sqlalchemy": "python3-sqlalchemy"} {
		if err := exec.Command(py, "-c", "import "+mod).Run(); err != nil {
			missing(t, "%s cannot import %s: install the Debian package %s", py, mod, pkg)
		}
	}
	cmd := exec.CommandContext(t.Context(), py, filepath.Join(testdata, "python", "session.py"))
	cmd.Env = s.env(db)
	return run(t, cmd)
}

func runNode(t *testing.T, s *server, db, testdata string) string {
	node := lookPath(t, "node", "nodejs")
	dir := filepath.Join(testdata, "node")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "mysql2")); err != nil {
		npm := lookPath(t, "npm", "npm")
		cmd := exec.CommandContext(t.Context(), npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			missing(t, "npm ci in %s (the npm package mysql2): %v\n%s", dir, err, out)
		}
	}
	cmd := exec.CommandContext(t.Context(), node, "session.mjs")
	cmd.Dir = dir
	cmd.Env = s.env(db)
	return run(t, cmd)
}

// runODBC runs testdata/odbc/session.sql with unixODBC's isql and
// testdata/odbc/prepared.py with pyodbc, through the MariaDB ODBC driver and
// a DSN written into a temporary directory. It returns the output in
// sections; prepared.py's lines become sections too.
func runODBC(t *testing.T, s *server, db, testdata string) string {
	isql := lookPath(t, "isql", "unixodbc")
	drivers, _ := filepath.Glob("/usr/lib/*/odbc/libmaodbc.so")
	if len(drivers) == 0 {
		missing(t, "libmaodbc.so not found: install the Debian package odbc-mariadb")
	}
	py := "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import pyodbc").Run(); err != nil {
		missing(t, "%s cannot import pyodbc: install the Debian package python3-pyodbc", py)
	}
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("odbcinst.ini", "[MariaDB]\nDriver="+drivers[0]+"\n")
	// FORCETLS: TLS or no connection; SSLVERIFY=0: the certificate is
	// self-signed. The password is in braces (it has a space).
	write("odbc.ini", fmt.Sprintf("[cohort]\nDriver=MariaDB\nSERVER=%s\nPORT=%s\nDATABASE=%s\nUSER=root\nPASSWORD=%s\nFORCETLS=1\nSSLVERIFY=0\n",
		s.host, s.port, db, password))
	env := append(s.env(db), "ODBCSYSINI="+dir, "ODBCINI="+filepath.Join(dir, "odbc.ini"), "COHORT_DSN=cohort")

	script, err := os.Open(filepath.Join(testdata, "odbc", "session.sql"))
	if err != nil {
		t.Fatal(err)
	}
	defer script.Close()
	cmd := exec.CommandContext(t.Context(), isql, "-b", "-v", "-x0x09", "cohort")
	cmd.Env, cmd.Stdin = env, script
	out := run(t, cmd)
	// isql stops on no error in batch mode: its error lines fail the test.
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "[ISQL]") || strings.HasPrefix(l, "[S") || strings.HasPrefix(l, "[0") || strings.HasPrefix(l, "[H") {
			t.Errorf("isql: %s", l)
		}
	}
	// isql prints NULL as an empty field (the fixture has no empty strings).
	var fixed []string
	for _, l := range strings.Split(out, "\n") {
		if l != "" && !strings.HasPrefix(l, "section:") {
			cols := strings.Split(l, "\t")
			for i, c := range cols {
				if c == "" {
					cols[i] = "NULL"
				}
			}
			l = strings.Join(cols, "\t")
		}
		fixed = append(fixed, l)
	}
	out = strings.Join(fixed, "\n")

	cmd = exec.CommandContext(t.Context(), py, filepath.Join(testdata, "odbc", "prepared.py"))
	cmd.Env = env
	for k, v := range parseLines(run(t, cmd)) {
		out += "\nsection:" + k + "\n" + strings.ReplaceAll(strings.ReplaceAll(v, " ", "\t"), "|", "\n")
	}
	return out
}
