package main

import (
	"context"
	"fmt"
	"time"

	segmentv1 "github.com/cohortdb/cohort/api/segment/v1"
	"github.com/cohortdb/cohort/delivery/apiserver"
	"github.com/cohortdb/cohort/delivery/profile"
	"github.com/cohortdb/cohort/delivery/segmentapi"
	"github.com/cohortdb/cohort/delivery/tokens"
	"github.com/cohortdb/cohort/storage/history"
)

// apiParts is Cohort's API server (delivery/apiserver): ProfileService,
// SegmentService and, registered by openGRPC, IngestService on one gRPC
// server, with its REST gateway, /openapi.json and the token admin API on
// the HTTP port.
type apiParts struct {
	srv    *apiserver.Server
	tokens *tokens.Store
}

// openAPI opens the token bucket and builds the API server; nil without
// ingest (tokens live in JetStream beside the write keys).
func (s *server) openAPI() (*apiParts, error) {
	if s.ingest == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store, err := tokens.Open(ctx, s.ingest.svc.Log().JetStream(), "")
	if err != nil {
		return nil, fmt.Errorf("cannot start the API: %w", err)
	}
	admin := s.ingest.adminToken
	keys := s.ingest.svc.Keys()
	srv, err := apiserver.New(apiserver.Options{
		Auth:            tokens.NewAuthenticator(store, admin),
		Tokens:          store,
		WorkspaceExists: keys.Exists,
		Profiles: profile.New(profile.Options{
			Engine:      s.eng,
			History:     s.profileHistory(),
			Memberships: s.apiMemberships(),
			Logger:      s.log,
		}),
		Segments: s.apiSegments(),
		Logger:   s.log,
	})
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("cannot start the API: %w", err)
	}
	return &apiParts{srv: srv, tokens: store}, nil
}

// apiSegments returns the SegmentService implementation
// (delivery/segmentapi over the segment managers, their JetStream store
// and the SQL frontend's compiler); nil (Unimplemented) without segments.
func (s *server) apiSegments() segmentv1.SegmentServiceServer {
	if s.segments == nil {
		return nil
	}
	var compile segmentapi.CompileFunc
	if s.sql != nil {
		compile = s.sql.srv.CompileSegment
	}
	svc, err := segmentapi.New(segmentapi.Options{Engine: s.eng, Registry: s.segments.reg, Store: s.segments.store, Compile: compile, Logger: s.log})
	if err != nil {
		s.log.Error("segment API unavailable", "err", err)
		return nil
	}
	return svc
}

// apiMemberships returns the segment memberships shown in profiles; nil
// (none) without segments.
func (s *server) apiMemberships() profile.Memberships {
	if s.segments == nil {
		return nil
	}
	return segmentapi.Memberships(s.segments.reg)
}

// profileHistory serves GetHistory from the storage's history files and
// the changes not yet flushed to them; nil without storage.
func (s *server) profileHistory() profile.HistorySource {
	if s.storage == nil || s.storage.store == nil {
		return nil
	}
	return profileHistory{s}
}

type profileHistory struct{ s *server }

func (h profileHistory) Scan(ctx context.Context, ws string, from, to time.Time, fn func(profile.Change) error) error {
	return h.s.storage.store.ScanHistory(ctx, ws, from, to, func(r history.Record) error {
		return fn(profile.Change{Seq: r.Seq, Person: r.Person, Attribute: r.Attribute, Old: r.Old, New: r.New, At: r.At, Source: r.Source})
	})
}

// closeAPI stops the API server (open streams end at once, unary calls
// get until ctx ends) and the token store's watcher.
func (p *apiParts) close(ctx context.Context) error {
	err := p.srv.Shutdown(ctx)
	p.tokens.Close()
	return err
}
