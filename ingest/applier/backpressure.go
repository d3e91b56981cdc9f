package applier

import (
	"context"
	"time"

	ilog "github.com/cohortdb/cohort/ingest/log"
)

// Backpressure. When the engine applies the log slower than ingest
// appends to it (a CPU-starved machine, heavy queries competing for the
// cores, a burst), the gap between acknowledgement and queryable would
// grow without bound. Throttle keeps it near Options.MaxLag instead: a
// writer about to append waits while the batch the applier is working on
// started more than MaxLag after its oldest message was stored, and
// something acknowledged is still unapplied. Ingest then runs at the
// applier's pace (clients see slower answers, not stale data), and
// freshness stays within MaxLag plus one micro-batch.

// defaultMaxLag is Options.MaxLag's default: a quarter of the freshness
// promise (queryable within a second of the acknowledgement), leaving room
// for the micro-batch in progress. Measured (bench/ingestload, 64 clients,
// 2 query connections): 250 ms keeps freshness p99 under 0.5 s at the
// same throughput as 500 ms, whose p99 was 0.8-1.1 s.
const defaultMaxLag = 250 * time.Millisecond

// maxThrottle bounds one Throttle wait, so that a stalled applier slows
// ingest down but never stops it.
const maxThrottle = 5 * time.Second

// noteLag records how far behind the applier is as it starts applying
// msgs: the age of the oldest message (messages stored before the
// applier started, a startup replay, do not count).
func (a *Applier) noteLag(msgs []ilog.Msg) {
	var lag time.Duration
	if t := msgs[0].Time; t.After(a.start) {
		lag = max(time.Since(t), 0)
	}
	a.lag.Store(int64(lag))
}

// Throttled returns the time writers spent waiting in Throttle.
func (a *Applier) Throttled() time.Duration { return time.Duration(a.throttled.Load()) }

// Throttle waits while the applier lags more than Options.MaxLag behind
// the log and has not applied acked (the log's last acknowledged
// sequence) yet; at most a few seconds, or until ctx ends (its error is
// returned). It returns at once when the applier keeps up, when MaxLag is
// negative or once the applier stopped.
func (a *Applier) Throttle(ctx context.Context, acked uint64) error {
	if a.opts.MaxLag < 0 {
		return nil
	}
	var start time.Time
	var timeout <-chan time.Time
	for {
		a.mu.Lock()
		ch := a.notify
		a.mu.Unlock()
		if a.stopped.Load() || a.applied.Load() >= acked || time.Duration(a.lag.Load()) <= a.opts.MaxLag {
			break
		}
		if start.IsZero() {
			start = time.Now()
			t := time.NewTimer(maxThrottle)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-ch:
		case <-timeout:
			a.throttled.Add(int64(time.Since(start)))
			return nil
		case <-ctx.Done():
			a.throttled.Add(int64(time.Since(start)))
			return ctx.Err()
		}
	}
	if !start.IsZero() {
		a.throttled.Add(int64(time.Since(start)))
	}
	return nil
}
