package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// listenDebug listens on debug_addr for Go's profiling endpoints: a
// listener of their own, so that they are never exposed with the public
// HTTP API. Empty addr: nil, no endpoints.
func listenDebug(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen for profiling (debug_addr): %w", err)
	}
	return ln, nil
}

// serveDebug serves /debug/pprof/ on s.debugLn (if any) and returns the
// function that stops it.
func (s *server) serveDebug() func() {
	if s.debugLn == nil {
		return func() {}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(s.debugLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Warn("profiling endpoints stopped", "err", err)
		}
	}()
	s.log.Info("serving profiling endpoints", "addr", s.debugLn.Addr().String())
	return func() { _ = srv.Close() }
}
