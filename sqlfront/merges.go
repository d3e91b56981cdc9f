package sqlfront

import (
	"time"

	"github.com/dolthub/go-mysql-server/sql"
)

// MergesTable is the read-only identity merge log of a workspace: which
// person was merged into which, when, why and by which message — the
// "identifiers with the merge log" part of a 360° profile in SQL.
const MergesTable = "merges"

var mergesSchema = sql.Schema{
	{Name: "from_person", Type: typeInt, Source: MergesTable, Comment: "the person merged away (its id no longer owns rows)"},
	{Name: "into_person", Type: typeInt, Source: MergesTable, Comment: "the person it was merged into at the time"},
	{Name: "person_id", Type: typeInt, Source: MergesTable, Comment: "canonical person id today (into_person, or where it was merged later)"},
	{Name: "merged_at", Type: typeTimestamp, Source: MergesTable, Comment: "time of the operation that merged them, UTC"},
	{Name: "reason", Type: typeString, Source: MergesTable, Comment: "why the identity rules merged them"},
	{Name: "source", Type: typeString, Nullable: true, Source: MergesTable, Comment: "message id of the operation; NULL: none"},
	{Name: "via_type", Type: typeString, Nullable: true, Source: MergesTable, Comment: "type of the identifier that linked from_person"},
	{Name: "via_value", Type: typeString, Nullable: true, Source: MergesTable, Comment: "value of the identifier that linked from_person"},
}

// mergesTable lists the merge log of the session's snapshot, oldest first.
type mergesTable struct{ db *database }

var (
	_ sql.Table          = (*mergesTable)(nil)
	_ sql.CommentedTable = (*mergesTable)(nil)
	_ sql.Databaseable   = (*mergesTable)(nil)
)

func (t *mergesTable) Name() string               { return MergesTable }
func (t *mergesTable) String() string             { return MergesTable }
func (t *mergesTable) Database() string           { return t.db.Name() }
func (t *mergesTable) Schema() sql.Schema         { return mergesSchema }
func (t *mergesTable) Collation() sql.CollationID { return Collation }
func (t *mergesTable) Comment() string {
	return "identity merge log (read-only): every merge of two persons, with its reason"
}

func (t *mergesTable) Partitions(*sql.Context) (sql.PartitionIter, error) {
	return &partitionIterOf{p: historyPartition{}}, nil
}

func (t *mergesTable) PartitionRows(ctx *sql.Context, _ sql.Partition) (sql.RowIter, error) {
	snap := snapshot(ctx, t.db.ws)
	log := snap.Graph.MergeLog()
	rows := make([]sql.Row, 0, len(log))
	for _, m := range log {
		into := snap.Graph.Canonical(m.Into)
		if into == 0 {
			continue // erased: nothing about the person is shown
		}
		rows = append(rows, sql.Row{
			int64(m.From), int64(m.Into), int64(into),
			time.UnixMicro(m.At).UTC(), m.Reason, nullString(m.Source), nullString(m.Via.Type), nullString(m.Via.Value),
		})
	}
	return sql.RowsToRowIter(rows...), nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
