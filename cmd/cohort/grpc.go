package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"google.golang.org/grpc"

	"github.com/cohortdb/cohort/ingest/grpcapi"
)

// grpcParts is the gRPC endpoint of `cohort serve` (IngestService) and its
// REST gateway under /api/v1/ on the HTTP port.
type grpcParts struct {
	ln  net.Listener // nil when grpc_addr is empty: REST only
	srv *grpc.Server
	gw  http.Handler
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
	if s.cfg.GRPCAddr == "" {
		return p, nil
	}
	if p.ln, err = net.Listen("tcp", s.cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("cannot listen for gRPC (grpc_addr): %w", err)
	}
	p.srv = grpc.NewServer()
	api.Register(p.srv)
	return p, nil
}

// withGRPCGateway serves the REST mapping of IngestService under /api/v1/.
func (s *server) withGRPCGateway(next http.Handler) http.Handler {
	if s.grpc == nil {
		return next
	}
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", s.grpc.gw)
	mux.Handle("/", next)
	return mux
}

// startGRPC serves gRPC in the background.
func (s *server) startGRPC() {
	if s.grpc == nil || s.grpc.srv == nil {
		return
	}
	go func() {
		if err := s.grpc.srv.Serve(s.grpc.ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.log.Error("cannot serve gRPC", "err", err)
		}
	}()
	s.log.Info("serving gRPC", "addr", s.grpc.ln.Addr().String())
}

// closeGRPC stops gRPC gracefully, or abruptly when ctx ends first.
func (s *server) closeGRPC(ctx context.Context) error {
	if s.grpc == nil || s.grpc.srv == nil {
		return nil
	}
	done := make(chan struct{})
	go func() {
		s.grpc.srv.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.grpc.srv.Stop()
		<-done
		return fmt.Errorf("cannot stop gRPC gracefully: %w", ctx.Err())
	}
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
	if s.grpc.ln == nil {
		return "off (grpc_addr is empty); REST gateway " + rest
	}
	return fmt.Sprintf("cohort.ingest.v1.IngestService on %s   REST gateway %s", dialable(s.grpc.ln.Addr().String()), rest)
}
