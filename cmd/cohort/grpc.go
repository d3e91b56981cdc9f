package main

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/cohortdb/cohort/ingest/grpcapi"
)

// grpcParts is the gRPC endpoint of `cohort serve` (IngestService,
// ProfileService, SegmentService: one server, api.go) and their REST
// gateways under /api/v1/ on the HTTP port.
type grpcParts struct {
	ln  net.Listener // nil when grpc_addr is empty: REST only
	gw  http.Handler // IngestService's REST mapping
	api *apiParts    // api.go
}

// openGRPC listens on grpc_addr and builds the gateway; nil without ingest.
func (s *server) openGRPC() (*grpcParts, error) {
	if s.ingest == nil {
		return nil, nil
	}
	svc := s.ingest.svc
	api := grpcapi.New(grpcapi.Options{Keys: svc.Keys(), Sink: svc, Schema: svc.Schema, Logger: s.log})
	gw, err := api.Gateway(context.Background())
	if err != nil {
		return nil, err
	}
	p := &grpcParts{gw: gw}
	if p.api, err = s.openAPI(); err != nil {
		return nil, err
	}
	api.Register(p.api.srv.GRPC())
	if s.cfg.GRPCAddr == "" {
		return p, nil
	}
	if p.ln, err = net.Listen("tcp", s.cfg.GRPCAddr); err != nil {
		_ = p.api.close(context.Background())
		return nil, fmt.Errorf("cannot listen for gRPC (grpc_addr): %w", err)
	}
	return p, nil
}

// withGRPCGateway serves the REST mapping of IngestService under /api/v1/
// and the API server's routes: ProfileService and SegmentService under
// /api/v1/workspaces/, GET /openapi.json and the token admin API.
func (s *server) withGRPCGateway(next http.Handler) http.Handler {
	if s.grpc == nil {
		return next
	}
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", s.grpc.api.srv.Middleware(s.grpc.gw)) // request ids and access logs too
	s.grpc.api.srv.Register(mux)
	mux.Handle("/", next)
	return mux
}

// startGRPC serves gRPC in the background, and the REST gateway's
// in-memory connection.
func (s *server) startGRPC() {
	if s.grpc == nil {
		return
	}
	s.grpc.api.srv.Start()
	s.http.RegisterOnShutdown(s.grpc.api.srv.CloseStreams) // REST streams would hold the HTTP shutdown
	if s.grpc.ln == nil {
		return
	}
	go func() {
		if err := s.grpc.api.srv.Serve(s.grpc.ln); err != nil {
			s.log.Error("cannot serve gRPC", "err", err)
		}
	}()
	s.log.Info("serving gRPC", "addr", s.grpc.ln.Addr().String())
}

// closeGRPC stops gRPC gracefully (open streams end at once), or
// abruptly when ctx ends first.
func (s *server) closeGRPC(ctx context.Context) error {
	if s.grpc == nil {
		return nil
	}
	return s.grpc.api.close(ctx)
}

// GRPCAddr returns the gRPC listen address, or nil when gRPC is off.
func (s *server) GRPCAddr() net.Addr {
	if s.grpc == nil || s.grpc.ln == nil {
		return nil
	}
	return s.grpc.ln.Addr()
}

// grpcBanner is the gRPC line of the startup banner.
func (s *server) grpcBanner() string {
	if s.grpc == nil {
		return "off (needs ingest)"
	}
	rest := s.URL() + "/api/v1/{identify,track,page,screen,group,alias,batch}"
	api := fmt.Sprintf("\n           profiles and segments %s/api/v1/workspaces/{ws}/{profiles,segments}/...   OpenAPI %s/openapi.json\n           API tokens: cohort token create --workspace W --scope read|write|admin", s.URL(), s.URL())
	if s.grpc.ln == nil {
		return "off (grpc_addr is empty); REST gateway " + rest + api
	}
	return fmt.Sprintf("cohort.{ingest,profile,segment}.v1 on %s   REST gateway %s%s", dialable(s.grpc.ln.Addr().String()), rest, api)
}
