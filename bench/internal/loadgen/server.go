package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ServeOptions say how StartServer runs `BIN serve`. The load commands
// differ only in these: which secrets they need from the data directory
// (SQL over MySQL wants the root password, the gRPC API the admin token)
// and the demo workspace's size.
type ServeOptions struct {
	// Bin is the cohort binary.
	Bin string
	// Name is the command's name: it prefixes the temporary directory
	// and every progress line, so a shared terminal shows who speaks.
	Name string
	// DemoProfiles and DemoEvents size the demo workspace.
	DemoProfiles, DemoEvents int
	// ExtraArgs are more arguments of `serve`, space separated, appended
	// last so that they override the defaults.
	ExtraArgs string
	// Keep leaves the data directory behind for a post-mortem.
	Keep bool
	// RootPassword and AdminToken read those secrets of the data
	// directory before the server is ready: a command that cannot
	// authenticate should fail before waiting for a large demo load.
	RootPassword, AdminToken bool
}

// Server is a `cohort serve` started on a fresh data directory and free
// loopback ports, so a load run never touches a developer's server or
// data and runs beside others on a shared machine.
type Server struct {
	Cmd *exec.Cmd
	// Dir holds the data directory ("data") and the server's stderr
	// ("serve.log").
	Dir string
	// URL is the HTTP base; MySQLAddr and GRPCAddr are host:port.
	URL, MySQLAddr, GRPCAddr string
	// Key is the demo workspace's write key, from the banner.
	Key string
	// RootPassword and AdminToken are filled when ServeOptions ask.
	RootPassword, AdminToken string

	name    string
	keep    bool
	stderr  *os.File
	exited  chan struct{}
	waitErr error
}

// keyLine finds the write key in the banner: the only place serve tells
// it, since the demo workspace is created at start.
var keyLine = regexp.MustCompile(`demo write key ([0-9a-f]+)`)

// FreePort returns a loopback port nobody listens on now. Another
// process may take it before serve binds it; serve then fails loudly,
// which beats fixed ports that collide with every parallel run.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// StartServer starts `o.Bin serve` and returns once /readyz answers 200,
// so that the load measures a server that finished loading its demo
// workspace. Stop it with Stop.
func StartServer(ctx context.Context, o ServeOptions) (*Server, error) {
	dir, err := os.MkdirTemp("", o.Name+"-")
	if err != nil {
		return nil, err
	}
	var ports [3]int
	for i := range ports {
		if ports[i], err = FreePort(); err != nil {
			return nil, err
		}
	}
	args := []string{"serve", "--data-dir", filepath.Join(dir, "data"),
		"--http-addr", fmt.Sprintf("127.0.0.1:%d", ports[0]),
		"--mysql-addr", fmt.Sprintf("127.0.0.1:%d", ports[1]),
		"--grpc-addr", fmt.Sprintf("127.0.0.1:%d", ports[2]),
		"--demo-profiles", strconv.Itoa(o.DemoProfiles), "--demo-events", strconv.Itoa(o.DemoEvents),
		"--shutdown-timeout", "2m"}
	args = append(args, strings.Fields(o.ExtraArgs)...)
	cmd := exec.Command(o.Bin, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	errf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stderr = errf
	s := &Server{Cmd: cmd, Dir: dir, URL: fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		MySQLAddr: fmt.Sprintf("127.0.0.1:%d", ports[1]), GRPCAddr: fmt.Sprintf("127.0.0.1:%d", ports[2]),
		name: o.Name, keep: o.Keep, stderr: errf, exited: make(chan struct{})}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start %s: %w", o.Bin, err)
	}
	go func() { s.waitErr = cmd.Wait(); close(s.exited) }()
	keyc := make(chan string, 1)
	go func() {
		// Reads stdout to its end, or serve would block on a full pipe.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := keyLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case keyc <- m[1]:
				default:
				}
			}
		}
	}()
	fmt.Fprintf(os.Stderr, "%s: started %s %s (log %s)\n", o.Name, o.Bin, strings.Join(args, " "), errf.Name())
	select {
	case s.Key = <-keyc:
	case <-s.exited:
		return nil, s.exitError()
	case <-time.After(time.Minute):
		s.Stop()
		return nil, errors.New("no write key in the server's banner after 1 min")
	}
	if o.RootPassword {
		if s.RootPassword, err = s.readSecret("mysql_root_password"); err != nil {
			return nil, err
		}
	}
	if o.AdminToken {
		if s.AdminToken, err = s.readSecret("admin_token"); err != nil {
			return nil, err
		}
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	for {
		resp, err := hc.Get(s.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-s.exited:
			return nil, s.exitError()
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	fmt.Fprintf(os.Stderr, "%s: server ready after %s\n", o.Name, time.Since(start).Round(time.Millisecond))
	return s, nil
}

// readSecret returns a file of the data directory, trimmed, and stops
// the server if it cannot: a server nobody can log in to is no use.
func (s *Server) readSecret(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(s.Dir, "data", name))
	if err != nil {
		s.Stop()
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// exitError says the server died during start-up and where its log is.
// The exit status is formatted with %v, not wrapped: it is nil when
// serve exits 0, and callers only print it.
func (s *Server) exitError() error {
	return fmt.Errorf("server exited: %v (see %s)", s.waitErr, s.stderr.Name())
}

// Pid is the server's process id, for reading its /proc entries (RSS,
// CPU time) directly rather than through its own metrics.
func (s *Server) Pid() int { return s.Cmd.Process.Pid }

// Stop sends SIGTERM and waits, so the server shuts down cleanly (a
// crash would hide shutdown bugs and leave the data directory in use);
// it kills the server only after 5 minutes. It then removes the data
// directory unless ServeOptions.Keep.
func (s *Server) Stop() {
	_ = s.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(5 * time.Minute):
		_ = s.Cmd.Process.Kill()
		<-s.exited
	}
	s.stderr.Close()
	if !s.keep {
		os.RemoveAll(s.Dir)
	} else {
		fmt.Fprintf(os.Stderr, "%s: kept %s\n", s.name, s.Dir)
	}
}
