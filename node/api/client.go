package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// ErrNoDaemon means no daemon serves the repo (no api file, or its socket
// refuses connections because the daemon died); the CLI then opens the repo
// directly.
var ErrNoDaemon = errors.New("no daemon is running on this repo")

// Addr is one line of the api file.
type Addr struct {
	Network string // "unix" or "tcp"
	Address string // socket path or host:port
}

func (a Addr) String() string { return a.Network + ":" + a.Address }

// ParseAPIFile decodes the api file: one "network:address" per line, blank
// lines ignored. Unknown networks are skipped so an older client keeps
// working against a newer daemon that advertises more.
func ParseAPIFile(data []byte) ([]Addr, error) {
	var out []Addr
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		network, address, ok := strings.Cut(line, ":")
		if !ok || address == "" {
			return nil, fmt.Errorf("api file line %d: %q is not network:address", i+1, line)
		}
		switch network {
		case "unix":
			if !filepath.IsAbs(address) {
				return nil, fmt.Errorf("api file line %d: socket path %q is not absolute", i+1, address)
			}
		case "tcp":
			if _, _, err := net.SplitHostPort(address); err != nil {
				return nil, fmt.Errorf("api file line %d: %w", i+1, err)
			}
		default:
			continue
		}
		out = append(out, Addr{network, address})
	}
	if len(out) == 0 {
		return nil, errors.New("api file lists no usable address")
	}
	return out, nil
}

// ClientOptions configures DialWith. The zero value is usable.
type ClientOptions struct {
	// Kinds maps error kinds back to sentinels. Nil means DefaultKinds().
	Kinds *Kinds
	// DialTimeout bounds the liveness probe and each connection attempt.
	// Zero means 2s.
	DialTimeout time.Duration
}

func (o ClientOptions) withDefaults() ClientOptions {
	if o.Kinds == nil {
		o.Kinds = DefaultKinds()
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 2 * time.Second
	}
	return o
}

// Client talks to a daemon's API. It is safe for concurrent use.
type Client struct {
	addr  Addr
	base  string
	token string
	kinds *Kinds
	hc    *http.Client
}

// Dial finds the daemon serving repoPath, with default options.
func Dial(repoPath string) (*Client, error) { return DialWith(repoPath, ClientOptions{}) }

// DialWith reads <repo>/api and connects to the daemon, preferring the unix
// socket (file permissions are the authentication) and falling back to TCP
// with the repo's token when the socket is unusable for another reason than
// a dead daemon (e.g. path too long, no permission).
func DialWith(repoPath string, o ClientOptions) (*Client, error) {
	o = o.withDefaults()
	data, err := os.ReadFile(filepath.Join(repoPath, APIFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoDaemon
	}
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	addrs, err := ParseAPIFile(data)
	if err != nil {
		return nil, fmt.Errorf("api: %s: %w", filepath.Join(repoPath, APIFileName), err)
	}
	var errs []error
	for _, a := range addrs {
		c, err := probe(a, o.DialTimeout)
		if err == nil {
			c.Close()
			if a.Network == "unix" {
				return newClient(a, "", o), nil
			}
			token, err := readToken(filepath.Join(repoPath, TokenName))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", a, err))
				continue
			}
			return newClient(a, token, o), nil
		}
		if isDead(err) {
			// Every address in the file belongs to the same daemon; one
			// refusing means it is gone, not that another route might work.
			return nil, fmt.Errorf("%w (stale %s: %v)", ErrNoDaemon, a, err)
		}
		errs = append(errs, fmt.Errorf("%s: %w", a, err))
	}
	return nil, fmt.Errorf("api: cannot reach the daemon: %w", errors.Join(errs...))
}

func probe(a Addr, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout(a.Network, a.Address, timeout)
}

func isDead(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, fs.ErrNotExist)
}

// NewTCPClient connects to a daemon's TCP listener directly, for a CLI given
// an explicit --api address and token.
func NewTCPClient(hostport, token string, o ClientOptions) *Client {
	o = o.withDefaults()
	return newClient(Addr{"tcp", hostport}, token, o)
}

// streamSockBuf is the socket buffer each side of a unix-socket API
// connection asks for, both ways: the default (~200 KiB) is a fifth of a
// block, so a daemon streaming cat output (or a client uploading an add)
// waited on the other side five times a block.
const streamSockBuf = 4 << 20

func newClient(a Addr, token string, o ClientOptions) *Client {
	d := &net.Dialer{Timeout: o.DialTimeout}
	tr := &http.Transport{
		// Never route API calls through HTTP_PROXY: the token would leak
		// to the proxy and loopback addresses would not be reachable.
		Proxy:               nil,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	base := "http://" + a.Address
	if a.Network == "unix" {
		path := a.Address
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := d.DialContext(ctx, "unix", path)
			if uc, ok := c.(*net.UnixConn); ok {
				uc.SetReadBuffer(streamSockBuf)
				uc.SetWriteBuffer(streamSockBuf)
			}
			return c, err
		}
		base = "http://trove"
	} else {
		tr.DialContext = d.DialContext
	}
	return &Client{addr: a, base: base, token: token, kinds: o.Kinds, hc: &http.Client{Transport: tr}}
}

// Addr reports which address the client uses.
func (c *Client) Addr() Addr { return c.addr }

// Close releases idle connections.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// Request describes one API call for Stream and Events.
type Request struct {
	Method string // empty means POST
	Path   string // e.g. "/v0/add"
	// Args are JSON-encoded: into the body when Body is nil, otherwise into
	// ArgsHeader. Nil sends none.
	Args any
	// Body is streamed as the request body (chunked, never buffered whole).
	Body        io.Reader
	ContentType string // of Body; empty means application/octet-stream
}

// bigChunks sends an upload in chunks of copyBuf bytes: net/http copies a
// plain reader 32 KiB at a time, each its own chunk and write(2), which
// made `trove add` through the daemon cost ~1.3x the offline add. The
// transport uses WriteTo when the body has it.
type bigChunks struct{ r io.Reader }

func (b bigChunks) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b bigChunks) WriteTo(w io.Writer) (int64, error) {
	return io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{b.r}, make([]byte, copyBuf))
}

func (c *Client) do(ctx context.Context, req Request) (*http.Response, error) {
	method := req.Method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader
	hdr := http.Header{}
	if req.Body != nil {
		body = bigChunks{req.Body}
		ct := req.ContentType
		if ct == "" {
			ct = ContentStream
		}
		hdr.Set("Content-Type", ct)
		if req.Args != nil {
			b, err := json.Marshal(req.Args)
			if err != nil {
				return nil, fmt.Errorf("api: encode arguments: %w", err)
			}
			hdr.Set(ArgsHeader, string(b))
		}
	} else if req.Args != nil {
		b, err := json.Marshal(req.Args)
		if err != nil {
			return nil, fmt.Errorf("api: encode arguments: %w", err)
		}
		body = bytes.NewReader(b)
		hdr.Set("Content-Type", ContentJSON)
	}
	hr, err := http.NewRequestWithContext(ctx, method, c.base+req.Path, body)
	if err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	for k, v := range hdr {
		hr.Header[k] = v
	}
	if c.token != "" {
		hr.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(hr)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("api: %s %s: %w", method, req.Path, ctxErr)
		}
		return nil, fmt.Errorf("api: %s %s: %w", method, req.Path, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		return nil, c.decodeError(resp)
	}
	return resp, nil
}

func (c *Client) decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil || (env.Error == "" && env.Kind == "") {
		// Not our envelope (a proxy, or a handler that used http.Error):
		// keep the status so the message is still informative.
		env = envelope{Error: strings.TrimSpace(resp.Status + ": " + string(b)), Kind: kindForStatus(resp.StatusCode)}
	}
	return c.kinds.fromEnvelope(env, resp.StatusCode)
}

func kindForStatus(status int) string {
	switch status {
	case http.StatusNotFound:
		return KindNotFound
	case http.StatusUnauthorized, http.StatusForbidden:
		return KindPermission
	case http.StatusBadRequest, http.StatusMethodNotAllowed:
		return KindBadRequest
	}
	return KindInternal
}

// Call sends in as JSON arguments and decodes the JSON result into out
// (nil out discards it). Daemon errors come back as *Error.
func (c *Client) Call(ctx context.Context, method, path string, in, out any) error {
	resp, err := c.do(ctx, Request{Method: method, Path: path, Args: in})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
	} else {
		err = json.NewDecoder(resp.Body).Decode(out)
	}
	if err != nil {
		return fmt.Errorf("api: %s: read result: %w", path, errors.Join(ctx.Err(), err))
	}
	return nil
}

// Stream performs req and returns the response body as a stream (cat, dag
// export). A failure the daemon hits mid-body surfaces as the error of the
// Read that would otherwise have returned io.EOF; a dropped connection as
// io.ErrUnexpectedEOF. The caller must Close the body.
func (c *Client) Stream(ctx context.Context, req Request) (io.ReadCloser, error) {
	resp, err := c.do(ctx, req)
	if err != nil {
		return nil, err
	}
	return &trailerBody{resp: resp, kinds: c.kinds}, nil
}

type trailerBody struct {
	resp  *http.Response
	kinds *Kinds
}

func (t *trailerBody) Read(p []byte) (int, error) {
	n, err := t.resp.Body.Read(p)
	if errors.Is(err, io.EOF) {
		// Trailers are only populated once the body hit EOF.
		if v := t.resp.Trailer.Get(ErrorTrailer); v != "" {
			var env envelope
			if jerr := json.Unmarshal([]byte(v), &env); jerr != nil {
				env = envelope{Error: "malformed error trailer: " + v, Kind: KindInternal}
			}
			return n, t.kinds.fromEnvelope(env, 0)
		}
	}
	return n, err
}

func (t *trailerBody) Close() error { return t.resp.Body.Close() }

// Events performs req and reads its NDJSON progress stream, calling onEvent
// for each event (an error from onEvent aborts the call and is returned). The
// final result is decoded into result (may be nil). A daemon error, whether
// before the stream or in its final frame, is returned as *Error; a stream
// that ends without a final frame is io.ErrUnexpectedEOF, never success.
func (c *Client) Events(ctx context.Context, req Request, onEvent func(json.RawMessage) error, result any) error {
	resp, err := c.do(ctx, req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return c.readEvents(ctx, resp.Body, onEvent, result)
}

func (c *Client) readEvents(ctx context.Context, r io.Reader, onEvent func(json.RawMessage) error, result any) error {
	dec := json.NewDecoder(bufio.NewReader(r))
	for {
		var f frame
		if err := dec.Decode(&f); err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return fmt.Errorf("api: event stream: %w", ctxErr)
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("api: event stream ended without a result: %w", err)
		}
		switch {
		case f.Error != "" || f.Kind != "":
			return c.kinds.fromEnvelope(envelope{Error: f.Error, Kind: f.Kind}, 0)
		case f.Result != nil:
			if result == nil {
				return nil
			}
			if err := json.Unmarshal(f.Result, result); err != nil {
				return fmt.Errorf("api: decode result: %w", err)
			}
			return nil
		case f.Event != nil:
			if onEvent != nil {
				if err := onEvent(f.Event); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("api: event stream: empty frame")
		}
	}
}

// WaitReady polls until a daemon answers on repoPath or ctx ends; it is for
// scripts and tests that start a daemon and must not race its startup.
func WaitReady(ctx context.Context, repoPath string, o ClientOptions) (*Client, error) {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		c, err := DialWith(repoPath, o)
		if err == nil {
			if _, err = c.Ping(ctx); err == nil {
				return c, nil
			}
			c.Close()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("api: waiting for daemon: %w (last error: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}
