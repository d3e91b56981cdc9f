package main

import (
	"context"
	"time"

	"github.com/cohortdb/cohort/engine"
	"github.com/cohortdb/cohort/engine/column"
	"github.com/cohortdb/cohort/engine/segment"
	"github.com/cohortdb/cohort/sqlfront"
	"github.com/cohortdb/cohort/storage/asof"
	"github.com/cohortdb/cohort/storage/history"
)

// The segment side of the MySQL endpoint: the views of every workspace are
// its segments (the registry), segment_sizes reads the size samples kept
// in JetStream, and segment_members_as_of rebuilds a past membership from
// the storage's profile history.

// sqlSegments returns the registry whose managers the SQL endpoint's views
// define; nil (no views, no segment tables) without segments.
func (s *server) sqlSegments() *segment.Registry {
	if s.segments == nil {
		return nil
	}
	return s.segments.reg
}

// sqlSegmentSizes returns the source of segment_sizes; nil without
// segments.
func (s *server) sqlSegmentSizes() sqlfront.SegmentSizesFunc {
	if s.segments == nil || s.segments.store == nil {
		return nil
	}
	return s.segments.store.Sizes
}

// sqlMembersAsOf returns the evaluator of segment_members_as_of:
// storage/asof over the workspace's history files and the changes not yet
// flushed to them (read column by column); nil without segments or
// storage.
func (s *server) sqlMembersAsOf() sqlfront.MembersAsOfFunc {
	if s.segments == nil || s.storage == nil || s.storage.store == nil {
		return nil
	}
	store := s.storage.store
	return func(ctx context.Context, snap *engine.Snapshot, cond engine.Cond, at time.Time) (column.Bitmap, error) {
		src := asof.ProjectedSourceFunc(func(ctx context.Context, from, to time.Time, p history.Projection, fn func(history.Record) error) error {
			return store.ScanHistoryProjected(ctx, snap.Workspace, from, to, p, fn)
		})
		return asof.Members(ctx, snap, cond, at, src)
	}
}

// sampleEvery maps segment_sample_interval to the managers' SampleEvery:
// 0 turns the samples off.
func sampleEvery(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}
