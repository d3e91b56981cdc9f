package sqlfront

import (
	"errors"
	"net"
	"syscall"
)

// peerState peeks at the socket without consuming data: 0 bytes read
// means the peer closed it; EAGAIN means open and idle.
func peerState(c net.Conn) peer {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return peerUnknown
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return peerUnknown
	}
	st := peerOpen
	var buf [1]byte
	cerr := rc.Control(func(fd uintptr) {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil && n == 0:
			st = peerClosed
		case err == nil:
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
		case errors.Is(err, syscall.ECONNRESET):
			st = peerClosed
		default:
			st = peerUnknown
		}
	})
	if cerr != nil {
		return peerUnknown // closed on our side
	}
	return st
}
