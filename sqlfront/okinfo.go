package sqlfront

import (
	"context"

	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"
)

// okInfoHandler works around two quirks of GMS/vitess that real clients hit:
//
//   - vitess writes the info string of an OK packet (GMS gives one for a
//     text PREPARE, "Statement prepared") as '#' followed by the raw string,
//     which MariaDB clients, reading a length-encoded string there, reject
//     with "Received malformed packet" (the mariadb CLI's PREPARE). The
//     handler drops that info string; affected rows, insert id and status
//     flags are unchanged. Only the text protocol (COM_QUERY) writes it.
//   - GMS panics preparing some statements with COM_STMT_PREPARE (a text
//     EXECUTE, which the MariaDB ODBC driver prepares server-side), and the
//     panic closes the connection. The handler answers such a statement
//     with MySQL's error for it, ER_UNSUPPORTED_PS (1295), instead.
type okInfoHandler struct{ mysql.Handler }

// withoutOKInfo is the server.HandlerWrapper installing okInfoHandler.
func withoutOKInfo(h mysql.Handler) (mysql.Handler, error) { return okInfoHandler{h}, nil }

func (h okInfoHandler) ComQuery(ctx context.Context, c *mysql.Conn, query string, callback mysql.ResultSpoolFn) error {
	return h.Handler.ComQuery(ctx, c, query, dropOKInfo(callback))
}

func (h okInfoHandler) ComMultiQuery(ctx context.Context, c *mysql.Conn, query string, callback mysql.ResultSpoolFn) (string, error) {
	return h.Handler.ComMultiQuery(ctx, c, query, dropOKInfo(callback))
}

func (h okInfoHandler) ComPrepare(ctx context.Context, c *mysql.Conn, query string, prepare *mysql.PrepareData) (fields []*querypb.Field, err error) {
	defer func() {
		if r := recover(); r != nil {
			fields, err = nil, mysql.NewSQLError(erUnsupportedPS, mysql.SSUnknownSQLState, "This command is not supported in the prepared statement protocol yet (%v)", r)
		}
	}()
	return h.Handler.ComPrepare(ctx, c, query, prepare)
}

func dropOKInfo(callback mysql.ResultSpoolFn) mysql.ResultSpoolFn {
	return func(res *sqltypes.Result, more bool) error {
		if res != nil && len(res.Fields) == 0 {
			res.Info = ""
		}
		return callback(res, more)
	}
}

// erUnsupportedPS is MySQL's ER_UNSUPPORTED_PS.
const erUnsupportedPS = 1295
