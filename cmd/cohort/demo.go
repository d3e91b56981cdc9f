package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cohortdb/cohort/bench/gen"
	"github.com/cohortdb/cohort/bench/load"
	"github.com/cohortdb/cohort/engine"
)

// loadDemo fills ws with a generated data set (bench/gen) through the
// engine's ordinary apply path, logging progress every few seconds.
func loadDemo(ctx context.Context, ws *engine.Workspace, profiles, events int, seed uint64) error {
	start := time.Now()
	ds, err := gen.Generate(ctx, gen.Options{Profiles: profiles, Events: events, Seed: seed})
	if err != nil {
		return fmt.Errorf("cannot generate demo data: %w", err)
	}
	slog.Info("demo data generated", "profiles", profiles, "events", events, "took", time.Since(start).Round(time.Millisecond))
	// The generated data set is nobody's change log: profile_history starts
	// after it (recording 22 "changes" per generated profile would cost more
	// than the load itself).
	resume := ws.PauseChanges()
	defer resume()
	last := time.Now()
	err = load.Workspace(ctx, ws, ds, func(done, total int64) {
		if time.Since(last) >= 5*time.Second {
			last = time.Now()
			slog.Info("loading demo workspace", "done", done, "total", total, "percent", 100*done/max(total, 1))
		}
	})
	if err != nil {
		return fmt.Errorf("cannot load demo workspace: %w", err)
	}
	slog.Info("demo workspace loaded", "workspace", ws.Name(), "operations", profiles+events, "took", time.Since(start).Round(time.Millisecond))
	return nil
}
