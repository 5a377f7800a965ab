package api

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
)

// File names inside the repo. The api file is the rendezvous: its presence
// tells the CLI a daemon may be running and where to reach it.
const (
	SocketName  = "api.sock"
	TokenName   = "api.token"
	APIFileName = "api"
	lockName    = "api.lock"
)

// maxUnixPath is the kernel's sun_path limit (108 on Linux, 104 on BSDs)
// minus the terminating NUL; checking up front gives a readable error
// instead of EINVAL from bind.
const maxUnixPath = 103

var (
	// ErrDaemonRunning is returned by Start when another live server already
	// serves this repo.
	ErrDaemonRunning = errors.New("a daemon is already serving this repo")
	// ErrInsecureToken is returned when api.token is readable by other users:
	// anyone who can read it can drive the daemon over TCP.
	ErrInsecureToken = errors.New("api token file is accessible by other users")
)

// Options configures a Server. The zero value of every field except RepoPath
// is usable.
type Options struct {
	// RepoPath is the repo directory that holds api.sock, api.token and the
	// api file. Required.
	RepoPath string
	// TCPAddr adds a TCP listener requiring the bearer token, e.g.
	// "127.0.0.1:5801" (port 0 picks a free port). Empty means unix socket only.
	TCPAddr string
	// Metrics is the node's registry, served at /debug/metrics/prometheus.
	// Go and process collectors are added to it. Nil means a private registry;
	// the global default registry is never used, so nodes in one process do
	// not mix their numbers.
	Metrics *prometheus.Registry
	// Kinds classifies handler errors into envelope kinds. Nil means
	// DefaultKinds().
	Kinds *Kinds
	// Logger receives request and lifecycle logs. Nil discards them.
	Logger *slog.Logger
	// ShutdownTimeout bounds how long Close waits for in-flight requests
	// before cutting connections. Zero means 10s.
	ShutdownTimeout time.Duration
	// ShutdownGrace is how long in-flight requests run undisturbed once a
	// shutdown starts; then their contexts are cancelled so that long ones
	// (a transfer's event stream, an upload) end now rather than at the
	// timeout, and they have the rest of ShutdownTimeout to wind down.
	// Zero means 1s, or half of ShutdownTimeout if that is shorter.
	ShutdownGrace time.Duration
}

// withDefaults returns o with every zero field but RepoPath set to its
// documented default.
func (o Options) withDefaults() Options {
	if o.Kinds == nil {
		o.Kinds = DefaultKinds()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	if o.ShutdownGrace <= 0 {
		o.ShutdownGrace = min(time.Second, o.ShutdownTimeout/2)
	}
	if o.Metrics == nil {
		o.Metrics = prometheus.NewRegistry()
	}
	return o
}

// Server is the daemon's local API endpoint. Register handlers with Handle
// before Start; the mux is shared by the unix and TCP listeners, which only
// differ in their authentication.
type Server struct {
	repo    string
	tcpAddr string
	kinds   *Kinds
	log     *slog.Logger
	timeout time.Duration
	grace   time.Duration // see Options.ShutdownGrace
	mux     *http.ServeMux
	metrics *serverMetrics

	baseCtx    context.Context
	cancelBase func() // cancels every request with cause ErrStopping

	connMu sync.Mutex
	conns  map[net.Conn]http.ConnState // see trackConn

	mu        sync.Mutex
	running   bool
	closed    bool
	lock      *os.File
	servers   []*http.Server
	addrs     []string
	sockPath  string
	sockInfo  fs.FileInfo
	apiFile   []byte
	serveErrs chan error
	started   time.Time
	stopReq   chan struct{}
	stopOnce  sync.Once
	closeOnce sync.Once
	closeErr  error
}

// NewServer validates o and prepares the mux with the debug endpoints. No
// file or socket is touched until Start.
func NewServer(o Options) (*Server, error) {
	if o.RepoPath == "" {
		return nil, errors.New("api: Options.RepoPath is required")
	}
	repo, err := filepath.Abs(o.RepoPath)
	if err != nil {
		return nil, fmt.Errorf("api: repo path: %w", err)
	}
	o = o.withDefaults()
	m, err := newServerMetrics(o.Metrics)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	s := &Server{
		repo:       repo,
		tcpAddr:    o.TCPAddr,
		kinds:      o.Kinds,
		log:        o.Logger,
		timeout:    o.ShutdownTimeout,
		grace:      o.ShutdownGrace,
		mux:        http.NewServeMux(),
		metrics:    m,
		baseCtx:    ctx,
		cancelBase: func() { cancel(ErrStopping) },
		conns:      make(map[net.Conn]http.ConnState),
		serveErrs:  make(chan error, 2),
		stopReq:    make(chan struct{}),
	}
	epPing.Register(s, func(context.Context, struct{}) (PingResult, error) {
		return PingResult{PID: os.Getpid(), Since: s.started}, nil
	})
	epShutdown.Register(s, func(context.Context, struct{}) (struct{}, error) {
		s.log.Info("shutdown requested through the API")
		s.stopOnce.Do(func() { close(s.stopReq) })
		return struct{}{}, nil
	})
	s.mux.Handle("GET /debug/metrics/prometheus", m.handler(o.Metrics))
	// Registered by hand because importing net/http/pprof only wires
	// DefaultServeMux, which trove never serves; this keeps profiling behind
	// the same socket permissions and token as everything else.
	s.mux.HandleFunc("/debug/pprof/", pprof.Index)
	s.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	s.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	s.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	s.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return s, nil
}

// Handle registers h for pattern with http.ServeMux syntax ("POST /v0/add").
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// HandleFunc is Handle for a function.
func (s *Server) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	s.mux.HandleFunc(pattern, h)
}

// Kinds returns the registry the server classifies errors with.
func (s *Server) Kinds() *Kinds { return s.kinds }

// Addrs returns the listening addresses as written to the api file, e.g.
// "unix:/repo/api.sock" and "tcp:127.0.0.1:5801".
func (s *Server) Addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.addrs...)
}

// Start takes the repo's API lock, opens the listeners, writes the api file
// and begins serving in the background. It returns ErrDaemonRunning if
// another live server holds the repo.
func (s *Server) Start() (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running || s.closed {
		return errors.New("api: a Server can be started only once")
	}
	s.running = true
	s.started = time.Now().UTC()
	var listeners []net.Listener
	defer func() {
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			s.cleanupFiles()
		}
	}()
	if err := s.acquireLock(); err != nil {
		return err
	}
	ul, err := s.listenUnix()
	if err != nil {
		return err
	}
	listeners = append(listeners, ul)
	s.addrs = append(s.addrs, "unix:"+s.sockPath)
	handlers := []http.Handler{s.chain("unix", "")}
	if s.tcpAddr != "" {
		token, err := LoadOrCreateToken(s.repo)
		if err != nil {
			return err
		}
		tl, err := net.Listen("tcp", s.tcpAddr)
		if err != nil {
			return fmt.Errorf("api: listen on %s: %w", s.tcpAddr, err)
		}
		listeners = append(listeners, tl)
		if ta, ok := tl.Addr().(*net.TCPAddr); ok && !ta.IP.IsLoopback() {
			s.log.Warn("API listens on a non-loopback address; anyone with the token can control this node", "addr", ta)
		}
		s.addrs = append(s.addrs, "tcp:"+tl.Addr().String())
		handlers = append(handlers, s.chain("tcp", token))
	}
	s.apiFile = []byte(strings.Join(s.addrs, "\n") + "\n")
	if err := writeFileAtomic(filepath.Join(s.repo, APIFileName), s.apiFile); err != nil {
		return fmt.Errorf("api: write api file: %w", err)
	}
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)
	for i, l := range listeners {
		srv := &http.Server{
			Handler: handlers[i],
			// Bounds the time a connection may take to send headers (slow
			// clients holding sockets); bodies are unbounded on purpose since
			// uploads and exports may legitimately take hours.
			ReadHeaderTimeout: 10 * time.Second,
			BaseContext:       func(net.Listener) context.Context { return s.baseCtx },
			ConnContext:       connContext,
			ConnState:         s.trackConn,
			ErrorLog:          errLog,
		}
		s.servers = append(s.servers, srv)
		go func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.serveErrs <- fmt.Errorf("api: serve %s: %w", l.Addr(), err)
			}
		}()
	}
	s.log.Info("API server listening", "addrs", s.addrs)
	return nil
}

// StopRequested is closed when a client asked the daemon to stop (POST
// /v0/shutdown). Run honours it; a caller using Start watches it itself.
func (s *Server) StopRequested() <-chan struct{} { return s.stopReq }

// Run starts the server, blocks until ctx is done, a client requests a stop
// or a listener fails, then shuts down gracefully. The daemon command wires
// ctx to SIGINT/SIGTERM.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Start(); err != nil {
		return err
	}
	var serveErr error
	select {
	case <-ctx.Done():
	case <-s.stopReq:
	case serveErr = <-s.serveErrs:
	}
	return errors.Join(serveErr, s.Close())
}

// Close shuts down within Options.ShutdownTimeout. Safe to call repeatedly.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	return s.Shutdown(ctx)
}

// Shutdown stops accepting connections and waits for in-flight requests
// until ctx ends. After Options.ShutdownGrace it cancels the handlers'
// contexts, and at ctx's end it closes the remaining connections, so a
// stuck stream cannot hold the daemon open.
// Finally it removes the socket and api file and releases the repo lock.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		servers := s.servers
		s.closed = true
		s.mu.Unlock()
		graceOver := time.AfterFunc(s.grace, func() {
			s.cancelBase()
			s.closeUnused()
		})
		defer graceOver.Stop()
		var g errgroup.Group
		for _, srv := range servers {
			g.Go(func() error {
				err := srv.Shutdown(ctx)
				if err != nil {
					s.cancelBase()
					return errors.Join(err, srv.Close())
				}
				return nil
			})
		}
		err := g.Wait()
		s.cancelBase()
		s.mu.Lock()
		s.cleanupFiles()
		s.mu.Unlock()
		if err != nil {
			s.closeErr = fmt.Errorf("api: shutdown: %w", err)
		}
		s.log.Info("API server stopped")
	})
	return s.closeErr
}

// trackConn keeps the state of every connection (http.Server's ConnState
// hook) for closeUnused.
func (s *Server) trackConn(c net.Conn, st http.ConnState) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	switch st {
	case http.StateClosed, http.StateHijacked:
		delete(s.conns, c)
	default:
		s.conns[c] = st
	}
}

// closeUnused closes connections that have never carried a request. Go's
// http.Transport dials a spare connection when none is idle and pools it
// unused if another frees up first; http.Server.Shutdown then waits for
// such a connection until it is 5 s old, which made a daemon's stop run
// into its timeout now and then.
func (s *Server) closeUnused() {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	for c, st := range s.conns {
		if st == http.StateNew {
			c.Close()
		}
	}
}

// listenUnix binds the socket in a private temporary directory, fixes its
// mode, then renames it into place: the socket is never reachable with the
// umask's permissions, and the rename atomically replaces a stale socket.
func (s *Server) listenUnix() (net.Listener, error) {
	path := filepath.Join(s.repo, SocketName)
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, fmt.Errorf("api: %s exists and is not a socket", path)
		}
		// We hold the lock, so a socket that still answers belongs to a
		// server that does not use it (e.g. another build); never steal it.
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			c.Close()
			return nil, fmt.Errorf("api: %s answers: %w", path, ErrDaemonRunning)
		}
		s.log.Info("replacing stale API socket", "path", path, "dial_error", err)
	}
	tmp, err := os.MkdirTemp(s.repo, ".api")
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	defer os.RemoveAll(tmp)
	tmpSock := filepath.Join(tmp, "s")
	if len(tmpSock) > maxUnixPath || len(path) > maxUnixPath {
		return nil, fmt.Errorf("api: socket path %s is longer than the %d bytes unix sockets allow; use a shorter repo path", path, maxUnixPath)
	}
	l, err := net.Listen("unix", tmpSock)
	if err != nil {
		return nil, fmt.Errorf("api: listen: %w", err)
	}
	ul := l.(*net.UnixListener)
	// We remove the socket ourselves, and only if it is still ours.
	ul.SetUnlinkOnClose(false)
	if err := os.Chmod(tmpSock, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("api: chmod socket: %w", err)
	}
	if err := os.Rename(tmpSock, path); err != nil {
		l.Close()
		return nil, fmt.Errorf("api: place socket: %w", err)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		l.Close()
		return nil, fmt.Errorf("api: %w", err)
	}
	s.sockPath, s.sockInfo = path, fi
	return l, nil
}

// cleanupFiles removes what Start created, but only files that are still
// ours, so a late Close cannot break a daemon that replaced us. Callers hold
// s.mu.
func (s *Server) cleanupFiles() {
	if s.apiFile != nil {
		p := filepath.Join(s.repo, APIFileName)
		if cur, err := os.ReadFile(p); err == nil && bytes.Equal(cur, s.apiFile) {
			os.Remove(p)
		}
	}
	if s.sockInfo != nil {
		if fi, err := os.Lstat(s.sockPath); err == nil && os.SameFile(fi, s.sockInfo) {
			os.Remove(s.sockPath)
		}
	}
	if s.lock != nil {
		s.lock.Close() // releases the flock
		s.lock = nil
	}
}

// LoadOrCreateToken returns the repo's API token, creating it with 256 bits
// from crypto/rand when absent. Creation is atomic (link of a complete temp
// file) so a concurrent reader never sees a half-written token.
func LoadOrCreateToken(repo string) (string, error) {
	path := filepath.Join(repo, TokenName)
	if tok, err := readToken(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return tok, err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("api: token: %w", err)
	}
	f, err := os.CreateTemp(repo, ".token") // CreateTemp uses mode 0600
	if err != nil {
		return "", fmt.Errorf("api: token: %w", err)
	}
	defer os.Remove(f.Name())
	_, werr := io.WriteString(f, hex.EncodeToString(raw[:])+"\n")
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return "", fmt.Errorf("api: token: %w", err)
	}
	if err := os.Link(f.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("api: token: %w", err)
	}
	return readToken(path)
}

func readToken(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("api: %s has mode %v, want 0600: %w", path, fi.Mode().Perm(), ErrInsecureToken)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 32 {
		return "", fmt.Errorf("api: %s holds a token shorter than 32 characters", path)
	}
	return tok, nil
}

func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Close()); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// chain wraps the mux for one listener. The order matters: metrics see every
// refusal, the browser check runs before authentication so a web page learns
// nothing about whether a token would be accepted.
func (s *Server) chain(listener, token string) http.Handler {
	var h http.Handler = s.mux
	if token != "" {
		h = requireToken(token, h)
	}
	h = refuseBrowsers(h)
	return s.instrument(listener, h)
}

// refuseBrowsers rejects requests that a web browser made. Browsers attach
// Origin to cross-origin and non-GET requests and Sec-Fetch-* to all requests;
// trove's own client never sends either. Without this check any web page
// could POST to 127.0.0.1:5801 (CSRF), or use DNS rebinding to make its own
// hostname resolve to 127.0.0.1 and read our responses as same-origin.
func refuseBrowsers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" || r.Header.Get("Sec-Fetch-Site") != "" || r.Header.Get("Sec-Fetch-Mode") != "" {
			writeEnvelope(w, http.StatusForbidden, envelope{
				Error: "requests from web browsers are not allowed on the trove API",
				Kind:  KindPermission,
			})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func requireToken(token string, next http.Handler) http.Handler {
	want := []byte(token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := bearer(r.Header.Get("Authorization"))
		if !ok || subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="trove"`)
			writeEnvelope(w, http.StatusUnauthorized, envelope{
				Error: "missing or wrong API token (see " + TokenName + " in the repo)",
				Kind:  KindPermission,
			})
			return
		}
		next.ServeHTTP(w, r)
	})
}

func bearer(h string) (string, bool) {
	const prefix = "bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}
