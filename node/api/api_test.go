package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/trove-p2p/trove/block"
)

// shortRepo returns a repo dir whose socket path fits the 108-byte limit;
// t.TempDir() paths embed the test name and can be too long.
func shortRepo(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "tv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

type echoArgs struct {
	Text  string `json:"text"`
	Times int    `json:"times"`
}

type echoResult struct {
	Out string `json:"out"`
}

// testRoutes registers the handlers the tests drive: they stand in for node
// methods with the same shapes.
func testRoutes(s *Server, errFor func(string) error) {
	s.Handle("POST /v0/echo", JSONHandler(func(_ context.Context, a echoArgs) (echoResult, error) {
		if a.Times < 0 {
			return echoResult{}, fmt.Errorf("times %d: %w", a.Times, ErrBadRequest)
		}
		return echoResult{Out: strings.Repeat(a.Text, a.Times)}, nil
	}))
	s.Handle("POST /v0/fail", JSONHandler(func(_ context.Context, a echoArgs) (echoResult, error) {
		return echoResult{}, errFor(a.Text)
	}))
}

func startServer(t *testing.T, o Options, routes func(*Server)) *Server {
	t.Helper()
	if o.RepoPath == "" {
		o.RepoPath = shortRepo(t)
	}
	s, err := NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	if routes != nil {
		routes(s)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func addrOf(t testing.TB, s *Server, network string) string {
	t.Helper()
	for _, a := range s.Addrs() {
		if n, addr, _ := strings.Cut(a, ":"); n == network {
			return addr
		}
	}
	t.Fatalf("server has no %s address: %v", network, s.Addrs())
	return ""
}

// rawUnix is a plain HTTP client on the socket, for requests the trove
// Client would never send (browser headers).
func rawUnix(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}}
}

func readEnvelope(t *testing.T, resp *http.Response) envelope {
	t.Helper()
	defer resp.Body.Close()
	var env envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("status %d body is not an envelope: %v", resp.StatusCode, err)
	}
	return env
}

func TestTCPRequiresToken(t *testing.T) {
	s := startServer(t, Options{TCPAddr: "127.0.0.1:0"}, func(s *Server) { testRoutes(s, nil) })
	tcp := addrOf(t, s, "tcp")
	token, err := LoadOrCreateToken(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"none", "", http.StatusUnauthorized},
		{"wrong", "Bearer " + strings.Repeat("0", len(token)), http.StatusUnauthorized},
		{"prefix", "Bearer " + token[:len(token)-1], http.StatusUnauthorized},
		{"basic", "Basic " + token, http.StatusUnauthorized},
		{"right", "Bearer " + token, http.StatusOK},
		{"right-lowercase-scheme", "bearer " + token, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", "http://"+tcp+"/v0/echo", strings.NewReader(`{"text":"ab","times":2}`))
			req.Header.Set("Content-Type", ContentJSON)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want != http.StatusOK {
				if env := readEnvelope(t, resp); env.Kind != KindPermission {
					t.Errorf("kind %q, want permission", env.Kind)
				}
				return
			}
			defer resp.Body.Close()
			var out echoResult
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Out != "abab" {
				t.Errorf("result %+v, %v", out, err)
			}
		})
	}
}

func TestBrowserRequestsRefused(t *testing.T) {
	s := startServer(t, Options{TCPAddr: "127.0.0.1:0"}, func(s *Server) { testRoutes(s, nil) })
	token, _ := LoadOrCreateToken(s.repo)
	unixHC := rawUnix(addrOf(t, s, "unix"))
	listeners := []struct {
		name string
		hc   *http.Client
		base string
	}{
		{"unix", unixHC, "http://trove"},
		{"tcp", http.DefaultClient, "http://" + addrOf(t, s, "tcp")},
	}
	headers := []struct{ k, v string }{
		{"Origin", "http://evil.example"},
		{"Origin", "null"},
		{"Sec-Fetch-Site", "cross-site"},
		{"Sec-Fetch-Site", "same-origin"},
	}
	for _, l := range listeners {
		for _, h := range headers {
			t.Run(l.name+"/"+h.k+"="+h.v, func(t *testing.T) {
				req, _ := http.NewRequest("POST", l.base+"/v0/echo", strings.NewReader(`{"text":"x","times":1}`))
				req.Header.Set("Content-Type", ContentJSON)
				req.Header.Set("Authorization", "Bearer "+token) // even a valid token does not help
				req.Header.Set(h.k, h.v)
				resp, err := l.hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				if resp.StatusCode != http.StatusForbidden {
					t.Fatalf("status %d, want 403", resp.StatusCode)
				}
				if env := readEnvelope(t, resp); env.Kind != KindPermission {
					t.Errorf("kind %q", env.Kind)
				}
			})
		}
	}
}

func TestRepoFiles(t *testing.T) {
	s := startServer(t, Options{TCPAddr: "127.0.0.1:0"}, nil)
	for _, tc := range []struct {
		name string
		mode fs.FileMode
		sock bool
	}{
		{SocketName, 0o600, true},
		{TokenName, 0o600, false},
	} {
		fi, err := os.Lstat(filepath.Join(s.repo, tc.name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != tc.mode {
			t.Errorf("%s mode %v, want %v", tc.name, fi.Mode().Perm(), tc.mode)
		}
		if (fi.Mode()&fs.ModeSocket != 0) != tc.sock {
			t.Errorf("%s: socket=%v", tc.name, !tc.sock)
		}
	}
	data, err := os.ReadFile(filepath.Join(s.repo, APIFileName))
	if err != nil {
		t.Fatal(err)
	}
	addrs, err := ParseAPIFile(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(addrs) != 2 || addrs[0].Network != "unix" || addrs[0].Address != filepath.Join(s.repo, SocketName) || addrs[1].Network != "tcp" {
		t.Fatalf("api file %q parsed to %v", data, addrs)
	}
	tok1, _ := LoadOrCreateToken(s.repo)
	tok2, _ := LoadOrCreateToken(s.repo)
	if len(tok1) != 64 || tok1 != tok2 {
		t.Errorf("token not stable: %q vs %q", tok1, tok2)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{APIFileName, SocketName} {
		if _, err := os.Lstat(filepath.Join(s.repo, name)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s survives clean shutdown: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(s.repo, TokenName)); err != nil {
		t.Errorf("token must persist across restarts: %v", err)
	}
	if _, err := Dial(s.repo); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("Dial after shutdown = %v, want ErrNoDaemon", err)
	}
}

func TestInsecureTokenRefused(t *testing.T) {
	repo := shortRepo(t)
	if err := os.WriteFile(filepath.Join(repo, TokenName), []byte(strings.Repeat("a", 64)), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Join(repo, TokenName), 0o644) // umask-proof
	s, _ := NewServer(Options{RepoPath: repo, TCPAddr: "127.0.0.1:0"})
	if err := s.Start(); !errors.Is(err, ErrInsecureToken) {
		t.Fatalf("Start = %v, want ErrInsecureToken", err)
	}
	// A failed start must leave nothing behind that would make the CLI
	// think a daemon runs.
	if _, err := Dial(repo); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("Dial = %v, want ErrNoDaemon", err)
	}
}

// staleSocket leaves a socket file nobody listens on, as a SIGKILLed daemon
// does, plus the api file pointing at it.
func staleSocket(t *testing.T, repo string) {
	t.Helper()
	path := filepath.Join(repo, SocketName)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if err := os.WriteFile(filepath.Join(repo, APIFileName), []byte("unix:"+path+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestStaleSocketReplaced(t *testing.T) {
	repo := shortRepo(t)
	staleSocket(t, repo)
	if _, err := Dial(repo); !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("Dial with stale socket = %v, want ErrNoDaemon", err)
	}
	startServer(t, Options{RepoPath: repo}, func(s *Server) { testRoutes(s, nil) })
	c, err := Dial(repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out echoResult
	if err := c.Call(context.Background(), "POST", "/v0/echo", echoArgs{"z", 3}, &out); err != nil || out.Out != "zzz" {
		t.Fatalf("call over replaced socket: %+v %v", out, err)
	}
}

func TestSecondServerRefused(t *testing.T) {
	repo := shortRepo(t)
	first := startServer(t, Options{RepoPath: repo}, nil)
	second, _ := NewServer(Options{RepoPath: repo})
	if err := second.Start(); !errors.Is(err, ErrDaemonRunning) {
		t.Fatalf("second Start = %v, want ErrDaemonRunning", err)
	}
	// The refused server must not have disturbed the first one's files.
	if _, err := Dial(repo); err != nil {
		t.Fatalf("first server unreachable after refused second: %v", err)
	}
	first.Close()
	third := startServer(t, Options{RepoPath: repo}, nil)
	if _, err := Dial(third.repo); err != nil {
		t.Fatalf("restart after clean shutdown: %v", err)
	}
}

func TestForeignLiveSocketRefused(t *testing.T) {
	// A socket that answers although nobody holds our lock (another build,
	// another tool) must never be stolen.
	repo := shortRepo(t)
	l, err := net.Listen("unix", filepath.Join(repo, SocketName))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	s, _ := NewServer(Options{RepoPath: repo})
	if err := s.Start(); !errors.Is(err, ErrDaemonRunning) {
		t.Fatalf("Start = %v, want ErrDaemonRunning", err)
	}
}

var errQuota = errors.New("quota exceeded")

func TestErrorKindsRoundTrip(t *testing.T) {
	_, cidErr := cid.Decode("bafy-not-a-cid")
	if cidErr == nil {
		t.Fatal("cid.Decode accepted garbage")
	}
	c0, _ := block.Sum(1, block.CodecRaw, block.HashSHA256, []byte("x"))
	errs := map[string]error{
		"notfound":   block.NotFound(c0),
		"nofile":     fmt.Errorf("open /x: %w", os.ErrNotExist),
		"perm":       &fs.PathError{Op: "open", Path: "/root/x", Err: os.ErrPermission},
		"canceled":   fmt.Errorf("fetch: %w", context.Canceled),
		"deadline":   fmt.Errorf("fetch: %w", context.DeadlineExceeded),
		"cid":        fmt.Errorf("parse: %w", cidErr),
		"badcid":     fmt.Errorf("%w: %q", ErrBadCID, "x"),
		"locked":     fmt.Errorf("open repo: %w", ErrLocked),
		"badreq":     fmt.Errorf("%w: depth -1", ErrBadRequest),
		"quota":      fmt.Errorf("pin: %w", errQuota),
		"plain":      errors.New("disk on fire"),
		"notfound+x": fmt.Errorf("%w and also %w", block.ErrNotFound, errQuota),
		"corrupt":    fmt.Errorf("%s: %w", c0, block.ErrCorrupt),
		"exists":     &fs.PathError{Op: "open", Path: "/x", Err: fs.ErrExist},
		"toolarge":   fmt.Errorf("put: %w", block.ErrTooLarge),
		"unsupp":     fmt.Errorf("%w: md5", block.ErrUnsupported),
	}
	kinds := func() *Kinds {
		k := DefaultKinds()
		k.Register("quota", http.StatusInsufficientStorage, errQuota)
		return k
	}
	s := startServer(t, Options{Kinds: kinds()}, func(s *Server) {
		testRoutes(s, func(name string) error { return errs[name] })
	})
	c, err := DialWith(s.repo, ClientOptions{Kinds: kinds()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		name   string
		kind   string
		status int
		is     []error
		isNot  []error
	}{
		{"notfound", KindNotFound, 404, []error{block.ErrNotFound}, []error{os.ErrNotExist}},
		{"nofile", KindNoFile, 404, []error{os.ErrNotExist, fs.ErrNotExist}, []error{block.ErrNotFound}},
		{"perm", KindPermission, 403, []error{os.ErrPermission}, nil},
		{"canceled", KindCanceled, StatusClientClosed, []error{context.Canceled}, []error{context.DeadlineExceeded}},
		{"deadline", KindDeadline, 504, []error{context.DeadlineExceeded}, []error{context.Canceled}},
		// Any cid.ErrInvalidCid value matches, so a package's own
		// ErrInvalidCid-typed sentinel works without registration.
		{"cid", KindBadCID, 400, []error{ErrBadCID, cid.ErrInvalidCid{}, cid.ErrInvalidCid{Err: errors.New("elsewhere")}}, []error{block.ErrUnsupported}},
		{"badcid", KindBadCID, 400, []error{ErrBadCID}, nil},
		{"locked", KindLocked, 409, []error{ErrLocked}, nil},
		{"badreq", KindBadRequest, 400, []error{ErrBadRequest}, []error{ErrBadCID}},
		{"quota", "quota", 507, []error{errQuota}, nil},
		{"plain", KindInternal, 500, nil, []error{block.ErrNotFound, os.ErrNotExist, context.Canceled}},
		// first registered match wins
		{"notfound+x", KindNotFound, 404, []error{block.ErrNotFound}, []error{errQuota}},
		{"corrupt", KindCorrupt, 500, []error{block.ErrCorrupt}, nil},
		{"exists", KindExists, 409, []error{fs.ErrExist}, []error{fs.ErrNotExist}},
		{"toolarge", KindTooLarge, 413, []error{block.ErrTooLarge}, nil},
		{"unsupp", KindUnsupported, 400, []error{block.ErrUnsupported}, []error{ErrBadCID}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Call(context.Background(), "POST", "/v0/fail", echoArgs{Text: tc.name}, nil)
			var ae *Error
			if !errors.As(err, &ae) {
				t.Fatalf("got %T %v, want *Error", err, err)
			}
			if ae.Kind != tc.kind || ae.Status != tc.status {
				t.Errorf("kind %q status %d, want %q %d", ae.Kind, ae.Status, tc.kind, tc.status)
			}
			if ae.Error() != errs[tc.name].Error() {
				t.Errorf("message %q, want the server's %q", ae.Error(), errs[tc.name].Error())
			}
			for _, s := range tc.is {
				if !errors.Is(err, s) {
					t.Errorf("errors.Is(%v, %v) = false", err, s)
				}
			}
			for _, s := range tc.isNot {
				if errors.Is(err, s) {
					t.Errorf("errors.Is(%v, %v) = true", err, s)
				}
			}
		})
	}
	// An unregistered kind on the client still yields a usable error.
	plain, _ := DialWith(s.repo, ClientOptions{})
	defer plain.Close()
	err = plain.Call(context.Background(), "POST", "/v0/fail", echoArgs{Text: "quota"}, nil)
	var ae *Error
	if !errors.As(err, &ae) || ae.Kind != "quota" || errors.Is(err, errQuota) {
		t.Errorf("unknown kind on client: %v", err)
	}
	// A malformed argument body is the caller's fault.
	err = c.Call(context.Background(), "POST", "/v0/echo", map[string]any{"times": "many"}, nil)
	if !errors.Is(err, ErrBadRequest) {
		t.Errorf("bad args: %v, want ErrBadRequest", err)
	}
	// No such route: the mux's plain-text 404 still maps to a kind.
	err = c.Call(context.Background(), "POST", "/v0/nope", nil, nil)
	if !errors.As(err, &ae) || ae.Status != 404 {
		t.Errorf("unknown route: %v", err)
	}
}

func TestDialFallsBackToTCP(t *testing.T) {
	s := startServer(t, Options{TCPAddr: "127.0.0.1:0"}, func(s *Server) { testRoutes(s, nil) })
	tcp := addrOf(t, s, "tcp")
	// A unix path the client cannot use (it does not fit sun_path) makes
	// Dial fall back to TCP with the token from the repo.
	long := "/" + strings.Repeat("x", 200)
	if err := os.WriteFile(filepath.Join(s.repo, APIFileName), []byte("unix:"+long+"\ntcp:"+tcp+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Dial(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Addr().Network != "tcp" {
		t.Fatalf("client uses %v", c.Addr())
	}
	var out echoResult
	if err := c.Call(context.Background(), "POST", "/v0/echo", echoArgs{"t", 2}, &out); err != nil || out.Out != "tt" {
		t.Fatalf("%+v %v", out, err)
	}
	// Without the token file, TCP is unusable and Dial says why.
	os.Rename(filepath.Join(s.repo, TokenName), filepath.Join(s.repo, "moved"))
	if _, err := Dial(s.repo); err == nil || errors.Is(err, ErrNoDaemon) {
		t.Errorf("Dial without token = %v, want a reachability error", err)
	}
}

func TestDialNoAPIFile(t *testing.T) {
	repo := shortRepo(t)
	if _, err := Dial(repo); !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("Dial = %v, want ErrNoDaemon", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := WaitReady(ctx, repo, ClientOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitReady without daemon = %v", err)
	}
	os.WriteFile(filepath.Join(repo, APIFileName), []byte("garbage\n"), 0o600)
	if _, err := Dial(repo); err == nil || errors.Is(err, ErrNoDaemon) {
		t.Fatalf("Dial with corrupt api file = %v, want a parse error", err)
	}
}

// genReader produces n deterministic bytes on the fly, so a test can upload
// far more than it could afford to hold.
type genReader struct {
	left int64
	x    uint32
}

func (g *genReader) Read(p []byte) (int, error) {
	if g.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > g.left {
		p = p[:g.left]
	}
	for i := range p {
		g.x = g.x*1664525 + 1013904223
		p[i] = byte(g.x >> 24)
	}
	g.left -= int64(len(p))
	return len(p), nil
}

type uploadResult struct {
	N   int64  `json:"n"`
	CRC uint32 `json:"crc"`
}

type progress struct {
	N int64 `json:"n"`
}

func uploadRoutes(s *Server) {
	// Consumes the body while reporting progress, as add does.
	s.Handle("POST /v0/upload", EventHandler(func(ctx context.Context, a echoArgs, body io.Reader, emit func(any) error) (uploadResult, error) {
		h := crc32.NewIEEE()
		buf := make([]byte, 64<<10)
		var n int64
		for {
			k, err := body.Read(buf)
			h.Write(buf[:k])
			n += int64(k)
			if k > 0 && a.Times > 0 {
				if err := emit(progress{n}); err != nil {
					return uploadResult{}, err
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return uploadResult{}, err
			}
		}
		return uploadResult{N: n, CRC: h.Sum32()}, nil
	}))
}

// peakHeapGrowth runs fn while sampling the heap and returns the largest
// growth over the starting point.
func peakHeapGrowth(fn func()) int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	fn()
	close(stop)
	<-sampled
	return int64(peak.Load()) - int64(base)
}

func TestLargeTransfersStream(t *testing.T) {
	size := int64(200 << 20)
	if testing.Short() {
		size = 32 << 20
	}
	s := startServer(t, Options{}, func(s *Server) {
		uploadRoutes(s)
		s.Handle("POST /v0/download", BodyHandler("", func(_ context.Context, a uploadResult, _ io.Reader, w io.Writer) error {
			_, err := io.Copy(w, &genReader{left: a.N})
			return err
		}))
	})
	c, err := Dial(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := crc32.NewIEEE()
	io.Copy(want, &genReader{left: size})

	t.Run("upload", func(t *testing.T) {
		var res uploadResult
		growth := peakHeapGrowth(func() {
			err = c.Events(context.Background(), Request{Path: "/v0/upload", Body: &genReader{left: size}, ContentType: ContentTar}, nil, &res)
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.N != size || res.CRC != want.Sum32() {
			t.Fatalf("server saw %d bytes crc %08x, want %d %08x", res.N, res.CRC, size, want.Sum32())
		}
		t.Logf("uploaded %d MiB; heap in use grew by at most %.1f MiB", size>>20, float64(growth)/(1<<20))
		if growth > 32<<20 {
			t.Errorf("heap grew by %d MiB during a %d MiB upload: body is being buffered", growth>>20, size>>20)
		}
	})
	t.Run("download", func(t *testing.T) {
		got := crc32.NewIEEE()
		var n int64
		growth := peakHeapGrowth(func() {
			var body io.ReadCloser
			body, err = c.Stream(context.Background(), Request{Path: "/v0/download", Args: uploadResult{N: size}})
			if err != nil {
				return
			}
			defer body.Close()
			n, err = io.Copy(got, body)
		})
		if err != nil {
			t.Fatal(err)
		}
		if n != size || got.Sum32() != want.Sum32() {
			t.Fatalf("downloaded %d bytes crc %08x, want %d %08x", n, got.Sum32(), size, want.Sum32())
		}
		t.Logf("downloaded %d MiB; heap in use grew by at most %.1f MiB", size>>20, float64(growth)/(1<<20))
		if growth > 32<<20 {
			t.Errorf("heap grew by %d MiB during a %d MiB download", growth>>20, size>>20)
		}
	})
}

func TestArgsWithDataBody(t *testing.T) {
	type addArgs struct {
		Name string `json:"name"`
		Pin  bool   `json:"pin"`
	}
	type addResult struct {
		Name string `json:"name"`
		Pin  bool   `json:"pin"`
		Body string `json:"body"`
	}
	s := startServer(t, Options{}, func(s *Server) {
		s.Handle("POST /v0/add", EventHandler(func(_ context.Context, a addArgs, body io.Reader, _ func(any) error) (addResult, error) {
			b, err := io.ReadAll(body)
			return addResult{a.Name, a.Pin, string(b)}, err
		}))
	})
	c, err := Dial(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		name string
		args any
		body string
		want addResult
		err  error
	}{
		{"unicode and newlines", addArgs{"héllo ✓\nx\"q\"", true}, "data", addResult{"héllo ✓\nx\"q\"", true, "data"}, nil},
		{"no args", nil, "raw stdin", addResult{Body: "raw stdin"}, nil},
		{"json-looking body is data", nil, `{"name":"not args"}`, addResult{Body: `{"name":"not args"}`}, nil},
		{"unknown option refused", map[string]any{"name": "x", "recursive": true}, "d", addResult{}, ErrBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var res addResult
			err := c.Events(context.Background(), Request{Path: "/v0/add", Args: tc.args, Body: strings.NewReader(tc.body)}, nil, &res)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || res != tc.want {
				t.Fatalf("got %+v %v, want %+v", res, err, tc.want)
			}
		})
	}
}

// TestUploadDuplex proves the server consumes the body while the client is
// still producing it and that progress flows back meanwhile: the client only
// writes the next chunk after seeing the event for the previous one, which
// would deadlock if either side buffered the whole stream.
func TestUploadDuplex(t *testing.T) {
	s := startServer(t, Options{}, uploadRoutes)
	c, err := Dial(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pr, pw := io.Pipe()
	const chunk, chunks = 1 << 20, 8
	seen := make(chan int64, chunks*64)
	writeErr := make(chan error, 1)
	go func() {
		buf := bytes.Repeat([]byte{7}, chunk)
		for i := 1; i <= chunks; i++ {
			if _, err := pw.Write(buf); err != nil {
				writeErr <- err
				return
			}
			for n := int64(0); n < int64(i*chunk); {
				select {
				case n = <-seen:
				case <-ctx.Done():
					pw.CloseWithError(ctx.Err())
					writeErr <- fmt.Errorf("no progress for chunk %d: %w", i, ctx.Err())
					return
				}
			}
		}
		writeErr <- pw.Close()
	}()
	var res uploadResult
	err = c.Events(ctx, Request{Path: "/v0/upload", Args: echoArgs{Times: 1}, Body: pr}, func(raw json.RawMessage) error {
		var p progress
		if err := json.Unmarshal(raw, &p); err != nil {
			return err
		}
		seen <- p.N
		return nil
	}, &res)
	if werr := <-writeErr; werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.N != chunk*chunks {
		t.Fatalf("server read %d bytes", res.N)
	}
}

func eventRoutes(s *Server) {
	// Emits Times events, then fails with the error named by Text.
	s.Handle("POST /v0/events", EventHandler(func(ctx context.Context, a echoArgs, _ io.Reader, emit func(any) error) (echoResult, error) {
		for i := 0; i < a.Times; i++ {
			if err := emit(progress{int64(i)}); err != nil {
				return echoResult{}, err
			}
		}
		switch a.Text {
		case "ok":
			return echoResult{Out: "done"}, nil
		case "abort":
			panic(http.ErrAbortHandler) // connection dies without a final frame
		}
		return echoResult{}, fmt.Errorf("after %d events: %w", a.Times, block.ErrNotFound)
	}))
	s.Handle("POST /v0/cat", BodyHandler("", func(ctx context.Context, a echoArgs, _ io.Reader, w io.Writer) error {
		for i := 0; i < a.Times; i++ {
			if _, err := w.Write(bytes.Repeat([]byte(a.Text[:1]), 64<<10)); err != nil {
				return err
			}
		}
		if a.Text == "ok" {
			return nil
		}
		return fmt.Errorf("block %d: %w", a.Times, block.ErrNotFound)
	}))
}

func TestEventStreams(t *testing.T) {
	s := startServer(t, Options{}, eventRoutes)
	c, err := Dial(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		name     string
		args     echoArgs
		events   int
		status   int // of the resulting *Error, 0 = in-stream
		wantErr  error
		wantDone bool
	}{
		{"success", echoArgs{"ok", 5}, 5, 0, nil, true},
		{"mid-stream error", echoArgs{"fail", 3}, 3, 0, block.ErrNotFound, false},
		{"error before any event", echoArgs{"fail", 0}, 0, 404, block.ErrNotFound, false},
		{"connection dies", echoArgs{"abort", 2}, 2, 0, io.ErrUnexpectedEOF, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []int64
			var res echoResult
			err := c.Events(context.Background(), Request{Path: "/v0/events", Args: tc.args}, func(raw json.RawMessage) error {
				var p progress
				if err := json.Unmarshal(raw, &p); err != nil {
					return err
				}
				got = append(got, p.N)
				return nil
			}, &res)
			if len(got) != tc.events {
				t.Errorf("saw %d events, want %d", len(got), tc.events)
			}
			if tc.wantErr == nil {
				if err != nil || res.Out != "done" {
					t.Fatalf("err %v result %+v", err, res)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			var ae *Error
			if errors.As(err, &ae) && ae.Status != tc.status {
				t.Errorf("status %d, want %d", ae.Status, tc.status)
			}
		})
	}
}

func TestStreamBodyErrors(t *testing.T) {
	s := startServer(t, Options{}, eventRoutes)
	c, err := Dial(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, tc := range []struct {
		name    string
		args    echoArgs
		n       int
		wantErr error
		early   bool // error returned by Stream itself, with a status
	}{
		{"complete", echoArgs{"ok", 4}, 4 << 16, nil, false},
		{"empty", echoArgs{"ok", 0}, 0, nil, false},
		{"fails after bytes", echoArgs{"x", 3}, 3 << 16, block.ErrNotFound, false},
		{"fails before bytes", echoArgs{"x", 0}, 0, block.ErrNotFound, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, err := c.Stream(context.Background(), Request{Path: "/v0/cat", Args: tc.args})
			if tc.early {
				var ae *Error
				if !errors.Is(err, tc.wantErr) || !errors.As(err, &ae) || ae.Status != 404 {
					t.Fatalf("Stream = %v, want a 404 not-found", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer body.Close()
			n, err := io.Copy(io.Discard, body)
			if n != int64(tc.n) {
				t.Errorf("read %d bytes, want %d", n, tc.n)
			}
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("read error %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestClientCancelReachesHandler(t *testing.T) {
	handlerSaw := make(chan error, 1)
	entered := make(chan struct{})
	s := startServer(t, Options{}, func(s *Server) {
		s.HandleFunc("POST /v0/block", func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			select {
			case <-r.Context().Done():
				handlerSaw <- r.Context().Err()
			case <-time.After(10 * time.Second):
				handlerSaw <- errors.New("handler was never canceled")
			}
		})
	})
	c, err := Dial(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-entered
		cancel()
	}()
	err = c.Call(ctx, "POST", "/v0/block", nil, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Call = %v, want context.Canceled", err)
	}
	if herr := <-handlerSaw; !errors.Is(herr, context.Canceled) {
		t.Errorf("handler: %v", herr)
	}
}

func TestShutdownIsBounded(t *testing.T) {
	entered := make(chan struct{})
	handlerCtx := make(chan error, 1)
	s := startServer(t, Options{ShutdownTimeout: 300 * time.Millisecond}, func(s *Server) {
		s.HandleFunc("POST /v0/stuck", func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-r.Context().Done() // a handler that only stops when told
			handlerCtx <- r.Context().Err()
		})
	})
	c, err := Dial(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go c.Call(context.Background(), "POST", "/v0/stuck", nil, nil)
	<-entered
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %v with a 300ms bound", d)
	}
	select {
	case err := <-handlerCtx:
		if err == nil {
			t.Error("handler context not canceled")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("stuck handler never released")
	}
	if _, err := os.Stat(filepath.Join(s.repo, APIFileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("api file after forced shutdown: %v", err)
	}
}

func TestRunStopsOnContext(t *testing.T) {
	repo := shortRepo(t)
	s, _ := NewServer(Options{RepoPath: repo})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	c, err := WaitReady(wctx, repo, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := Dial(repo); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("after Run returned: %v", err)
	}
}

func TestDebugEndpoints(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := startServer(t, Options{Metrics: reg, TCPAddr: "127.0.0.1:0"}, func(s *Server) { testRoutes(s, nil) })
	c, err := Dial(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Call(context.Background(), "POST", "/v0/echo", echoArgs{"a", 1}, nil); err != nil {
		t.Fatal(err)
	}
	hc := rawUnix(addrOf(t, s, "unix"))
	for _, tc := range []struct {
		path string
		want []string
	}{
		{"/debug/metrics/prometheus", []string{
			"go_goroutines", "process_cpu_seconds_total",
			`trove_api_requests_total{code="200",listener="unix",route="POST /v0/echo"} 1`,
		}},
		{"/debug/pprof/", []string{"goroutine", "heap"}},
		{"/debug/pprof/goroutine?debug=1", []string{"goroutine profile"}},
		{"/debug/pprof/cmdline", []string{os.Args[0]}},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := hc.Get("http://trove" + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("%s lacks %q", tc.path, w)
				}
			}
		})
	}
	// The same endpoints over TCP need the token like everything else.
	resp, err := http.Get("http://" + addrOf(t, s, "tcp") + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("pprof over TCP without token: %d", resp.StatusCode)
	}
	// Nothing went to the process-global registry.
	mfs, _ := prometheus.DefaultGatherer.Gather()
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "trove_") {
			t.Errorf("%s registered globally", mf.GetName())
		}
	}
}

func TestTwoServersOneRegistry(t *testing.T) {
	// A node restarting its API on the same registry must not fail on
	// duplicate collectors.
	reg := prometheus.NewRegistry()
	startServer(t, Options{Metrics: reg}, nil)
	startServer(t, Options{Metrics: reg}, nil)
}

func TestEndpointPingShutdown(t *testing.T) {
	repo := shortRepo(t)
	echo := Endpoint[echoArgs, echoResult]{Path: "/v0/echo2"}
	s, err := NewServer(Options{RepoPath: repo})
	if err != nil {
		t.Fatal(err)
	}
	echo.Register(s, func(_ context.Context, a echoArgs) (echoResult, error) {
		return echoResult{Out: strings.Repeat(a.Text, a.Times)}, nil
	})
	done := make(chan error, 1)
	go func() { done <- s.Run(context.Background()) }()
	ctx := context.Background()
	wctx, wcancel := context.WithTimeout(ctx, 5*time.Second)
	defer wcancel()
	c, err := WaitReady(wctx, repo, ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	out, err := echo.Call(ctx, c, echoArgs{"ab", 3})
	if err != nil || out.Out != "ababab" {
		t.Fatalf("%+v %v", out, err)
	}
	if _, err := (Endpoint[echoArgs, echoResult]{Method: "GET", Path: "/v0/echo2"}).Call(ctx, c, echoArgs{}); err == nil {
		t.Error("wrong method accepted")
	}
	p, err := c.Ping(ctx)
	if err != nil || p.PID != os.Getpid() || p.Since.IsZero() {
		t.Fatalf("ping %+v %v", p, err)
	}
	if err := c.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after a shutdown request")
	}
	if _, err := Dial(repo); !errors.Is(err, ErrNoDaemon) {
		t.Errorf("after shutdown: %v", err)
	}
	if err := s.Start(); err == nil {
		t.Error("a closed server restarted")
	}
}

func TestUnencodableResults(t *testing.T) {
	type bad struct{ F float64 }
	s := startServer(t, Options{}, func(s *Server) {
		s.Handle("POST /v0/nan", JSONHandler(func(context.Context, struct{}) (bad, error) {
			return bad{math.NaN()}, nil
		}))
		s.Handle("POST /v0/nan-events", EventHandler(func(_ context.Context, _ struct{}, _ io.Reader, emit func(any) error) (bad, error) {
			if err := emit(progress{1}); err != nil {
				return bad{}, err
			}
			if err := emit(bad{math.Inf(1)}); err == nil {
				return bad{}, errors.New("unencodable event accepted")
			}
			return bad{math.NaN()}, nil
		}))
	})
	c, err := Dial(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var ae *Error
	err = c.Call(context.Background(), "POST", "/v0/nan", nil, &bad{})
	if !errors.As(err, &ae) || ae.Status != 500 || ae.Kind != KindInternal {
		t.Errorf("call: %v", err)
	}
	events := 0
	err = c.Events(context.Background(), Request{Path: "/v0/nan-events"}, func(json.RawMessage) error { events++; return nil }, &bad{})
	if !errors.As(err, &ae) || ae.Kind != KindInternal || events != 1 {
		t.Errorf("events: %v after %d events", err, events)
	}
}

// TestShutdownGrace: a quick request finishes undisturbed during a
// shutdown, while a long one (like a transfer's event stream) is cancelled
// after the grace instead of holding the shutdown for its whole timeout.
func TestShutdownGrace(t *testing.T) {
	entered := make(chan struct{}, 2)
	s := startServer(t, Options{ShutdownTimeout: 20 * time.Second, ShutdownGrace: 300 * time.Millisecond}, func(s *Server) {
		s.HandleFunc("POST /v0/long", func(w http.ResponseWriter, r *http.Request) {
			entered <- struct{}{}
			<-r.Context().Done()
			WriteError(w, r, r.Context().Err())
		})
		s.HandleFunc("POST /v0/quick", func(w http.ResponseWriter, r *http.Request) {
			entered <- struct{}{}
			time.Sleep(100 * time.Millisecond) // done well within the grace
			WriteJSON(w, r, map[string]string{"ok": "yes"})
		})
	})
	c, err := Dial(s.repo)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	long, quick := make(chan error, 1), make(chan error, 1)
	go func() { long <- c.Call(context.Background(), "POST", "/v0/long", nil, nil) }()
	<-entered
	go func() {
		var out map[string]string
		err := c.Call(context.Background(), "POST", "/v0/quick", nil, &out)
		if err == nil && out["ok"] != "yes" {
			err = errors.New("quick request got no answer")
		}
		quick <- err
	}()
	<-entered
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("shutdown took %v: the long request held it (grace 300ms, timeout 20s)", d)
	}
	if err := <-quick; err != nil {
		t.Errorf("quick request during shutdown: %v", err)
	}
	if err := <-long; !errors.Is(err, ErrStopping) {
		t.Errorf("the long request ended with %v, want ErrStopping", err)
	}
}

// TestShutdownUnusedConnection: a connection that never sent a request
// (Go's client pools spare dials like that) must not hold a shutdown until
// its timeout; http.Server waits for such a connection until it is 5 s old.
func TestShutdownUnusedConnection(t *testing.T) {
	s := startServer(t, Options{ShutdownTimeout: 3 * time.Second, ShutdownGrace: 200 * time.Millisecond}, nil)
	c, err := net.Dial("unix", filepath.Join(s.repo, SocketName))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(50 * time.Millisecond) // let the server see it
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatalf("shutdown with an unused connection open: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutdown took %v", d)
	}
}
