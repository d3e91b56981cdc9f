package main

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/duckdb/duckdb-go/v2"

	"github.com/cohortdb/cohort/bench/gen"
)

// duckDB is one DuckDB database, in this process, holding the data twice:
// profiles_v/events_v with every string column as VARCHAR, and
// profiles_e/events_e with every dictionary column as ENUM (the best
// schema). Both are real tables: the data is copied in by
// CREATE TABLE ... AS SELECT from parallel chunked table functions that
// read the generator's slices (no Arrow view: filters on registered Arrow
// views return wrong results, duckdb-go issue 24).
type duckDB struct {
	db   *sql.DB
	conn *sql.Conn
	load map[string]time.Duration // step -> duration
}

func openDuckDB(ctx context.Context, d *gen.Dataset, threads int, compress bool) (*duckDB, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return nil, fmt.Errorf("cannot open duckdb: %w", err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("cannot connect to duckdb: %w", err)
	}
	x := &duckDB{db: db, conn: conn, load: map[string]time.Duration{}}
	if err := x.setup(ctx, d, threads, compress); err != nil {
		x.close()
		return nil, err
	}
	return x, nil
}

func (x *duckDB) exec(ctx context.Context, step, q string) error {
	start := time.Now()
	if _, err := x.conn.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("cannot %s: %w", step, err)
	}
	if step != "" {
		x.load[step] = time.Since(start)
		slog.Info("duckdb load step", "step", step, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

func (x *duckDB) setup(ctx context.Context, d *gen.Dataset, threads int, compress bool) error {
	if err := x.exec(ctx, "", fmt.Sprintf("SET threads = %d", threads)); err != nil {
		return err
	}
	if err := x.exec(ctx, "", "SET preserve_insertion_order = true"); err != nil {
		return err
	}
	ps, err := profileSource(d.Profiles, threads)
	if err != nil {
		return err
	}
	es, err := eventSource(d.Events, threads)
	if err != nil {
		return err
	}
	for name, src := range map[string]*genSource{"gen_profiles": ps, "gen_events": es} {
		f := duckdb.ParallelChunkTableFunction{
			BindArguments: func(map[string]any, ...any) (duckdb.ParallelChunkTableSource, error) { return src, nil },
		}
		if err := duckdb.RegisterTableUDF(x.conn, name, f); err != nil {
			return fmt.Errorf("cannot register %s: %w", name, err)
		}
	}
	// ENUM schema: small dictionaries are ENUM columns of the table
	// functions already (duckdb-go rebuilds an ENUM's name map for every
	// chunk, so the big ones come as VARCHAR and are cast to named ENUM
	// types by DuckDB); timestamps arrive as BIGINT microseconds.
	bigEnums := map[string]gen.Dict{"first_name": d.Profiles.FirstNameDict, "last_name": d.Profiles.LastNameDict,
		"city": d.Profiles.CityDict, "referral_code": d.Profiles.ReferralCodeDict, "company": d.Profiles.CompanyDict}
	for col, dict := range bigEnums {
		if err := x.exec(ctx, "", "CREATE TYPE "+col+"_t AS ENUM ("+sqlList(dict)+")"); err != nil {
			return err
		}
	}
	toEnum := func(c string) string {
		if _, ok := bigEnums[c]; ok {
			return fmt.Sprintf("CAST(%s AS %s_t) AS %s", c, c, c)
		}
		return c
	}
	ts := func(c string) string { return fmt.Sprintf("make_timestamp(%s) AS %s", c, c) }
	profCols := func(str func(string) string) string {
		return strings.Join([]string{
			"person_id", "user_id", "email", str("first_name"), str("last_name"), str("country"), str("city"),
			str("plan"), str("gender"), str("language"), "age", "ltv", ts("signup_at"), ts("created_at"),
			ts("first_seen"), ts("last_seen"), "email_opt_in", "push_enabled", "is_vip", "sessions_count",
			"orders_count", str("referral_code"), str("company"), "nps_score",
		}, ", ")
	}
	evCols := func(str func(string) string) string {
		return strings.Join([]string{
			"event_id", "person_id", str("name"), ts("ts"), str("platform"), str("app_version"), "amount", str("currency"),
		}, ", ")
	}
	same := func(c string) string { return c }
	varchar := func(c string) string { return fmt.Sprintf("CAST(%s AS VARCHAR) AS %s", c, c) }
	steps := []struct{ step, sql string }{
		{"load profiles_e (ENUM) from Go", "CREATE TABLE profiles_e AS SELECT " + profCols(toEnum) + " FROM gen_profiles()"},
		{"load events_e (ENUM) from Go", "CREATE TABLE events_e AS SELECT " + evCols(same) + " FROM gen_events()"},
		{"copy profiles_v (VARCHAR)", "CREATE TABLE profiles_v AS SELECT " + strings.ReplaceAll(profCols(varchar), "make_timestamp", "") + " FROM profiles_e"},
		{"copy events_v (VARCHAR)", "CREATE TABLE events_v AS SELECT " + strings.ReplaceAll(evCols(varchar), "make_timestamp", "") + " FROM events_e"},
	}
	for i, s := range steps {
		if err := x.exec(ctx, s.step, s.sql); err != nil {
			return err
		}
		if compress {
			// DuckDB compresses in-memory tables at checkpoint (as it
			// would persist them): ~6x less memory, its normal storage
			// format. After every table, to keep the peak low.
			if err := x.exec(ctx, fmt.Sprintf("checkpoint %d (compress)", i+1), "CHECKPOINT"); err != nil {
				return err
			}
		}
	}
	// Sanity: row counts.
	for _, t := range []struct {
		table string
		want  int
	}{{"profiles_e", d.Profiles.N}, {"profiles_v", d.Profiles.N}, {"events_e", d.Events.N}, {"events_v", d.Events.N}} {
		var n int
		if err := x.conn.QueryRowContext(ctx, "SELECT count(*) FROM "+t.table).Scan(&n); err != nil {
			return fmt.Errorf("cannot count %s: %w", t.table, err)
		}
		if n != t.want {
			return fmt.Errorf("cannot load %s: %d rows, want %d", t.table, n, t.want)
		}
	}
	return nil
}

// memoryBytes returns DuckDB's own memory use (duckdb_memory()).
func (x *duckDB) memoryBytes(ctx context.Context) (int64, error) {
	var n sql.NullInt64
	if err := x.conn.QueryRowContext(ctx, "SELECT sum(memory_usage_bytes)::BIGINT FROM duckdb_memory()").Scan(&n); err != nil {
		return 0, fmt.Errorf("cannot read duckdb memory: %w", err)
	}
	return n.Int64, nil
}

func (x *duckDB) close() error {
	var errs []error
	if x.conn != nil {
		errs = append(errs, x.conn.Close())
	}
	errs = append(errs, x.db.Close())
	for _, err := range errs {
		if err != nil {
			return fmt.Errorf("cannot close duckdb: %w", err)
		}
	}
	return nil
}

// genSource is a parallel chunked DuckDB table function over n generated
// rows: each FillChunk claims the next 2048 rows and writes them with the
// typed, non-boxing SetChunkValue.
type genSource struct {
	cols    []duckdb.ColumnInfo
	n       int
	threads int
	next    atomic.Int64
	fill    func(ch duckdb.DataChunk, lo, hi int) error
}

func (s *genSource) ColumnInfos() []duckdb.ColumnInfo { return s.cols }
func (s *genSource) Cardinality() *duckdb.CardinalityInfo {
	return &duckdb.CardinalityInfo{Cardinality: uint(s.n), Exact: true}
}
func (s *genSource) Init() duckdb.ParallelTableSourceInfo {
	s.next.Store(0)
	return duckdb.ParallelTableSourceInfo{MaxThreads: s.threads}
}
func (s *genSource) NewLocalState() any { return struct{}{} }
func (s *genSource) FillChunk(_ any, ch duckdb.DataChunk) error {
	size := int64(duckdb.GetDataChunkCapacity())
	lo := s.next.Add(size) - size
	if lo >= int64(s.n) {
		return ch.SetSize(0)
	}
	hi := min(int64(s.n), lo+size)
	if err := s.fill(ch, int(lo), int(hi)); err != nil {
		return err
	}
	return ch.SetSize(int(hi - lo))
}

func typeInfo(t duckdb.Type) (duckdb.TypeInfo, error) { return duckdb.NewTypeInfo(t) }

func enumInfo(d gen.Dict) (duckdb.TypeInfo, error) {
	if len(d) == 0 {
		return nil, fmt.Errorf("empty dictionary")
	}
	return duckdb.NewEnumInfo(d[0], d[1:]...)
}

type colSpec struct {
	name string
	t    duckdb.Type
	dict gen.Dict // for TYPE_ENUM
}

func columnInfos(specs []colSpec) ([]duckdb.ColumnInfo, error) {
	out := make([]duckdb.ColumnInfo, len(specs))
	for i, s := range specs {
		var ti duckdb.TypeInfo
		var err error
		if s.t == duckdb.TYPE_ENUM {
			ti, err = enumInfo(s.dict)
		} else {
			ti, err = typeInfo(s.t)
		}
		if err != nil {
			return nil, fmt.Errorf("cannot make type of column %s: %w", s.name, err)
		}
		out[i] = duckdb.ColumnInfo{Name: s.name, T: ti}
	}
	return out, nil
}

// set writes one value; errors are collected by the caller per chunk.
func set[T any](ch duckdb.DataChunk, col, row int, v T, err *error) {
	if e := duckdb.SetChunkValue(ch, col, row, v); e != nil && *err == nil {
		*err = e
	}
}

func setNull(ch duckdb.DataChunk, col, row int, err *error) {
	set[any](ch, col, row, nil, err)
}

func profileSource(p *gen.Profiles, threads int) (*genSource, error) {
	cols, err := columnInfos([]colSpec{
		{"person_id", duckdb.TYPE_INTEGER, nil},
		{"user_id", duckdb.TYPE_VARCHAR, nil},
		{"email", duckdb.TYPE_VARCHAR, nil},
		{"first_name", duckdb.TYPE_VARCHAR, nil},
		{"last_name", duckdb.TYPE_VARCHAR, nil},
		{"country", duckdb.TYPE_ENUM, p.CountryDict},
		{"city", duckdb.TYPE_VARCHAR, nil},
		{"plan", duckdb.TYPE_ENUM, p.PlanDict},
		{"gender", duckdb.TYPE_ENUM, p.GenderDict},
		{"language", duckdb.TYPE_ENUM, p.LanguageDict},
		{"age", duckdb.TYPE_UTINYINT, nil},
		{"ltv", duckdb.TYPE_DOUBLE, nil},
		{"signup_at", duckdb.TYPE_BIGINT, nil},
		{"created_at", duckdb.TYPE_BIGINT, nil},
		{"first_seen", duckdb.TYPE_BIGINT, nil},
		{"last_seen", duckdb.TYPE_BIGINT, nil},
		{"email_opt_in", duckdb.TYPE_BOOLEAN, nil},
		{"push_enabled", duckdb.TYPE_BOOLEAN, nil},
		{"is_vip", duckdb.TYPE_BOOLEAN, nil},
		{"sessions_count", duckdb.TYPE_INTEGER, nil},
		{"orders_count", duckdb.TYPE_INTEGER, nil},
		{"referral_code", duckdb.TYPE_VARCHAR, nil},
		{"company", duckdb.TYPE_VARCHAR, nil},
		{"nps_score", duckdb.TYPE_TINYINT, nil},
	})
	if err != nil {
		return nil, fmt.Errorf("cannot describe profiles: %w", err)
	}
	fill := func(ch duckdb.DataChunk, lo, hi int) (err error) {
		for i := lo; i < hi; i++ {
			r := i - lo
			set(ch, 0, r, int32(i+1), &err)
			set(ch, 1, r, p.UserID.At(i), &err)
			if p.Email.IsValid(i) {
				set(ch, 2, r, p.Email.At(i), &err)
			} else {
				setNull(ch, 2, r, &err)
			}
			set(ch, 3, r, p.FirstNameDict[p.FirstName[i]], &err)
			set(ch, 4, r, p.LastNameDict[p.LastName[i]], &err)
			set(ch, 5, r, p.CountryDict[p.Country[i]], &err)
			set(ch, 6, r, p.CityDict[p.City[i]], &err)
			set(ch, 7, r, p.PlanDict[p.Plan[i]], &err)
			if g := p.Gender[i]; g != gen.Null8 {
				set(ch, 8, r, p.GenderDict[g], &err)
			} else {
				setNull(ch, 8, r, &err)
			}
			set(ch, 9, r, p.LanguageDict[p.Language[i]], &err)
			if a := p.Age[i]; a != 0 {
				set(ch, 10, r, a, &err)
			} else {
				setNull(ch, 10, r, &err)
			}
			set(ch, 11, r, p.LTV[i], &err)
			set(ch, 12, r, p.SignupAt[i], &err)
			set(ch, 13, r, p.CreatedAt[i], &err)
			set(ch, 14, r, p.FirstSeen[i], &err)
			set(ch, 15, r, p.LastSeen[i], &err)
			set(ch, 16, r, p.EmailOptIn[i], &err)
			set(ch, 17, r, p.PushEnabled[i], &err)
			set(ch, 18, r, p.IsVIP[i], &err)
			set(ch, 19, r, p.SessionsCount[i], &err)
			set(ch, 20, r, p.OrdersCount[i], &err)
			if c := p.ReferralCode[i]; c != gen.Null16 {
				set(ch, 21, r, p.ReferralCodeDict[c], &err)
			} else {
				setNull(ch, 21, r, &err)
			}
			if c := p.Company[i]; c != gen.Null16 {
				set(ch, 22, r, p.CompanyDict[c], &err)
			} else {
				setNull(ch, 22, r, &err)
			}
			if v := p.NPSScore[i]; v >= 0 {
				set(ch, 23, r, v, &err)
			} else {
				setNull(ch, 23, r, &err)
			}
		}
		if err != nil {
			return fmt.Errorf("cannot fill profiles %d..%d: %w", lo, hi, err)
		}
		return nil
	}
	return &genSource{cols: cols, n: p.N, threads: threads, fill: fill}, nil
}

func eventSource(e *gen.Events, threads int) (*genSource, error) {
	cols, err := columnInfos([]colSpec{
		{"event_id", duckdb.TYPE_BIGINT, nil},
		{"person_id", duckdb.TYPE_INTEGER, nil},
		{"name", duckdb.TYPE_ENUM, e.NameDict},
		{"ts", duckdb.TYPE_BIGINT, nil},
		{"platform", duckdb.TYPE_ENUM, e.PlatformDict},
		{"app_version", duckdb.TYPE_ENUM, e.AppVersionDict},
		{"amount", duckdb.TYPE_DOUBLE, nil},
		{"currency", duckdb.TYPE_ENUM, e.CurrencyDict},
	})
	if err != nil {
		return nil, fmt.Errorf("cannot describe events: %w", err)
	}
	fill := func(ch duckdb.DataChunk, lo, hi int) (err error) {
		// The purchases of [lo, hi) are a contiguous run of e.Purchases.
		j := searchU32(e.Purchases, uint32(lo))
		for i := lo; i < hi; i++ {
			r := i - lo
			set(ch, 0, r, int64(i+1), &err)
			set(ch, 1, r, int32(e.PersonID[i]), &err)
			set(ch, 2, r, e.NameDict[e.Name[i]], &err)
			set(ch, 3, r, e.TS[i], &err)
			if c := e.Platform[i]; c != gen.Null8 {
				set(ch, 4, r, e.PlatformDict[c], &err)
			} else {
				setNull(ch, 4, r, &err)
			}
			if c := e.AppVersion[i]; c != gen.Null8 {
				set(ch, 5, r, e.AppVersionDict[c], &err)
			} else {
				setNull(ch, 5, r, &err)
			}
			if j < len(e.Purchases) && int(e.Purchases[j]) == i {
				set(ch, 6, r, e.Amount[j], &err)
				set(ch, 7, r, e.CurrencyDict[e.Currency[j]], &err)
				j++
			} else {
				setNull(ch, 6, r, &err)
				setNull(ch, 7, r, &err)
			}
		}
		if err != nil {
			return fmt.Errorf("cannot fill events %d..%d: %w", lo, hi, err)
		}
		return nil
	}
	return &genSource{cols: cols, n: e.N, threads: threads, fill: fill}, nil
}

func searchU32(s []uint32, v uint32) int {
	lo, hi := 0, len(s)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s[m] < v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// duckSystem runs the query set on one schema of a duckDB.
type duckSystem struct {
	x        *duckDB
	label    string
	profiles string
	events   string
	prm      params
}

func (s *duckSystem) name() string { return s.label }
func (s *duckSystem) close() error { return nil }

func tsLit(us int64) string {
	return "TIMESTAMP '" + time.UnixMicro(us).UTC().Format("2006-01-02 15:04:05.000000") + "'"
}

func sqlList(d gen.Dict) string {
	var b strings.Builder
	for i, s := range d {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(sqlStr(s))
	}
	return b.String()
}

func sqlStr(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func (s *duckSystem) q1Where() string {
	p := s.prm
	return fmt.Sprintf("country = %s AND age BETWEEN %d AND %d AND ltv > %v AND last_seen > %s",
		sqlStr(p.Q1Country), p.Q1AgeLo, p.Q1AgeHi, p.Q1LTVMin, tsLit(p.Q1LastSeenAfter))
}

func (s *duckSystem) count(ctx context.Context, q string) (int64, error) {
	var n int64
	if err := s.x.conn.QueryRowContext(ctx, q).Scan(&n); err != nil {
		return 0, fmt.Errorf("cannot run %q: %w", q, err)
	}
	return n, nil
}

func (s *duckSystem) q1(ctx context.Context) (int64, error) {
	return s.count(ctx, "SELECT count(*) FROM "+s.profiles+" WHERE "+s.q1Where())
}

func (s *duckSystem) q2(ctx context.Context) ([]int64, error) {
	q := "SELECT person_id FROM " + s.profiles + " WHERE " + s.q1Where()
	rows, err := s.x.conn.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("cannot run %q: %w", q, err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("cannot scan %q: %w", q, err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read %q: %w", q, err)
	}
	return ids, nil
}

func (s *duckSystem) q3(ctx context.Context) (map[string]int64, error) {
	q := "SELECT CAST(country AS VARCHAR), count(*) FROM " + s.profiles + " WHERE plan = " + sqlStr(s.prm.Q3Plan) + " GROUP BY country"
	rows, err := s.x.conn.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("cannot run %q: %w", q, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var c string
		var n int64
		if err := rows.Scan(&c, &n); err != nil {
			return nil, fmt.Errorf("cannot scan %q: %w", q, err)
		}
		out[c] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read %q: %w", q, err)
	}
	return out, nil
}

func (s *duckSystem) q4(ctx context.Context) (int64, error) {
	p := s.prm
	return s.count(ctx, fmt.Sprintf(`SELECT count(*) FROM (
		SELECT person_id FROM %s WHERE name = %s AND ts >= %s
		GROUP BY person_id HAVING count(*) >= %d)`,
		s.events, sqlStr(p.Q4Event), tsLit(p.Q4Since), p.Q4MinCount))
}

func (s *duckSystem) q5(ctx context.Context) (int64, error) {
	p := s.prm
	plans := make([]string, len(p.Q5Plans))
	for i, pl := range p.Q5Plans {
		plans[i] = sqlStr(pl)
	}
	return s.count(ctx, fmt.Sprintf(`SELECT count(*) FROM (
		SELECT person_id FROM %[1]s
		WHERE ts >= %[3]s AND name IN (%[4]s, %[5]s)
		GROUP BY person_id
		HAVING count(*) FILTER (WHERE name = %[4]s) >= %[6]d
		   AND count(*) FILTER (WHERE name = %[5]s) = 0
	) e JOIN %[2]s p ON p.person_id = e.person_id
	WHERE p.plan IN (%[7]s)`,
		s.events, s.profiles, tsLit(p.Q4Since), sqlStr(p.Q4Event), sqlStr(p.Q5Exclude), p.Q4MinCount,
		strings.Join(plans, ", ")))
}

func (s *duckSystem) q6(ctx context.Context) (int64, error) {
	return s.count(ctx, "SELECT count(*) FROM "+s.profiles+" WHERE email LIKE "+sqlStr("%"+s.prm.Q6Suffix))
}
