package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/ingest"
	"github.com/cohortdb/cohort/sqlfront"
)

// sqlApplyTimeout bounds how long a SQL write waits for the applier after
// the log acknowledged it (the write is durable by then; only its
// visibility is late, e.g. during the startup replay).
const sqlApplyTimeout = 30 * time.Second

// logApplier is the sqlfront.Applier of `cohort serve` with ingest on:
// SQL writes go through the durable log like every ingest API, and a
// statement returns once the applier has applied them, so a session reads
// its own writes. The engine's rejections come back as the statement's
// error.
type logApplier struct{ svc *ingest.Service }

var _ sqlfront.Applier = logApplier{}

// Apply gives every operation a fresh message id "sql/<statement>/<i>"
// (the log de-duplicates by message id), appends them, waits until the
// applier has applied the log up to them and reports the rejected ones.
func (a logApplier) Apply(ctx context.Context, workspace string, ops []engine.Op) (engine.Result, error) {
	if len(ops) == 0 {
		return engine.Result{}, nil
	}
	var r [12]byte
	if _, err := rand.Read(r[:]); err != nil {
		return engine.Result{}, fmt.Errorf("cannot create a message id: %w", err)
	}
	stmt := "sql/" + hex.EncodeToString(r[:])
	now := time.Now().UnixMicro()
	for i := range ops {
		ops[i].Source = stmt + "/" + strconv.Itoa(i)
		if ops[i].ReceivedAt == 0 {
			ops[i].ReceivedAt = now
		}
	}
	app := a.svc.Applier()
	w := app.Watch(stmt)
	defer w.Close()
	if err := a.svc.Append(ctx, workspace, ops); err != nil {
		return engine.Result{}, fmt.Errorf("cannot write to the ingest log: %w", err)
	}
	seq := a.svc.Log().Stats().LastAck // ≥ the sequence of our messages
	wctx, cancel := context.WithTimeout(ctx, sqlApplyTimeout)
	defer cancel()
	if err := app.WaitFor(wctx, seq); err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return engine.Result{}, fmt.Errorf("the write is in the durable log but not applied after %s (the log is still being replayed?)", sqlApplyTimeout)
		}
		return engine.Result{}, err
	}
	res := engine.Result{Applied: len(ops)}
	for _, rj := range w.Rejected() {
		i, err := strconv.Atoi(rj.Source[strings.LastIndexByte(rj.Source, '/')+1:])
		if err != nil || i < 0 || i >= len(ops) {
			continue
		}
		res.Rejected = append(res.Rejected, engine.OpError{Index: i, Err: rj.Err})
	}
	slices.SortFunc(res.Rejected, func(x, y engine.OpError) int { return x.Index - y.Index })
	res.Applied -= len(res.Rejected)
	return res, nil
}
