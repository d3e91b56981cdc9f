// Package natstest starts an embedded JetStream server for tests.
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStream starts a JetStream server storing in a temporary directory,
// on a free port, and returns a JetStream context on an in-process
// connection; both stop when the test ends. dir, if not empty, is the
// storage directory (to restart on the same data).
func JetStream(t testing.TB, dir string) jetstream.JetStream {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	s, err := server.NewServer(&server.Options{JetStream: true, StoreDir: dir, Port: -1, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatalf("cannot create the NATS server: %v", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("the NATS server is not ready")
	}
	nc, err := nats.Connect("", nats.InProcessServer(s))
	if err != nil {
		s.Shutdown()
		t.Fatalf("cannot connect to NATS: %v", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		s.Shutdown()
		t.Fatalf("cannot open JetStream: %v", err)
	}
	t.Cleanup(func() {
		nc.Close()
		s.Shutdown()
		s.WaitForShutdown()
	})
	return js
}
