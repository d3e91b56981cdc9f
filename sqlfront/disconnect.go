package sqlfront

import (
	"crypto/tls"
	"net"
	"time"

	"github.com/dolthub/vitess/go/netutil"
)

// GMS v0.20.0 notices a client that went away during a query only on plain
// TCP connections (server/handler.go pollForClosedConnection gives up on a
// *tls.Conn), so with TLS, the default here, an abandoned query would run
// to its end. watchDisconnect polls the socket under the TLS layer and
// kills the connection's query when the peer has closed it.

const disconnectPoll = 100 * time.Millisecond

// rawConn returns the TCP connection under vitess's and TLS's wrappers.
func rawConn(c net.Conn) net.Conn {
	for {
		switch x := c.(type) {
		case *tls.Conn:
			c = x.NetConn()
		case *netutil.ConnWithTimeouts:
			c = x.Conn
		case netutil.ConnWithTimeouts:
			c = x.Conn
		default:
			return c
		}
	}
}

func (s *Server) watchDisconnect(id uint32, c net.Conn) {
	raw := rawConn(c)
	t := time.NewTicker(disconnectPoll)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		switch peerState(raw) {
		case peerClosed:
			s.gms.ProcessList.Kill(id)
			return
		case peerUnknown:
			return
		}
	}
}

type peer uint8

const (
	peerOpen peer = iota
	peerClosed
	peerUnknown // not a socket we can check, or closed by us
)
