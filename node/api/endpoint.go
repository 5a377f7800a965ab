package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Built-in routes every daemon serves, whatever it registers besides.
var (
	epPing     = Endpoint[struct{}, PingResult]{Method: http.MethodGet, Path: "/v0/ping"}
	epShutdown = Endpoint[struct{}, struct{}]{Path: "/v0/shutdown"}
)

// PingResult identifies the daemon answering, for `daemon status` output and
// for scripts waiting for a restart.
type PingResult struct {
	PID   int       `json:"pid"`
	Since time.Time `json:"since"`
}

// Registrar is where endpoints register their handlers: a *Server, or a
// wrapper of one that adds per-route behaviour (the daemon tracks its
// handlers so the store outlives them).
type Registrar interface {
	Handle(pattern string, h http.Handler)
}

// Endpoint ties a route to its argument and result types, so the server
// registration and the client call are written against one value and cannot
// drift apart:
//
//	var PinAdd = api.Endpoint[PinAddArgs, node.PinInfo]{Path: "/v0/pin/add"}
//	PinAdd.Register(srv, func(ctx context.Context, a PinAddArgs) (node.PinInfo, error) { ... })
//	info, err := PinAdd.Call(ctx, client, args)
type Endpoint[In, Out any] struct {
	Method string // empty means POST
	Path   string
}

// Pattern is the http.ServeMux pattern, e.g. "POST /v0/pin/add".
func (e Endpoint[In, Out]) Pattern() string { return methodOr(e.Method) + " " + e.Path }

// Register serves fn at the endpoint.
func (e Endpoint[In, Out]) Register(s Registrar, fn func(context.Context, In) (Out, error)) {
	s.Handle(e.Pattern(), JSONHandler(fn))
}

// Call invokes the endpoint on the daemon.
func (e Endpoint[In, Out]) Call(ctx context.Context, c *Client, in In) (Out, error) {
	var out Out
	err := c.Call(ctx, methodOr(e.Method), e.Path, in, &out)
	return out, err
}

func methodOr(m string) string {
	if m == "" {
		return http.MethodPost
	}
	return m
}

// StreamEndpoint is a call whose result is a byte stream (cat, block get,
// dag export): nothing is buffered whole, and a failure after the first
// byte still reaches the client as the error of its last Read (see
// BodyHandler and Client.Stream).
type StreamEndpoint[In any] struct {
	Method      string // empty means POST
	Path        string
	ContentType string // of the result; empty means ContentStream
}

// Pattern is the http.ServeMux pattern.
func (e StreamEndpoint[In]) Pattern() string { return methodOr(e.Method) + " " + e.Path }

// Register serves fn, which writes the result to w.
func (e StreamEndpoint[In]) Register(s Registrar, fn func(ctx context.Context, in In, w io.Writer) error) {
	s.Handle(e.Pattern(), BodyHandler(e.ContentType, func(ctx context.Context, in In, _ io.Reader, w io.Writer) error {
		return fn(ctx, in, w)
	}))
}

// Open starts the call and returns the result stream; the caller must
// Close it.
func (e StreamEndpoint[In]) Open(ctx context.Context, c *Client, in In) (io.ReadCloser, error) {
	return c.Stream(ctx, Request{Method: e.Method, Path: e.Path, Args: in})
}

// Copy performs the call and copies the result to w. An error caused by
// ctx says so, whatever the broken read made of it.
func (e StreamEndpoint[In]) Copy(ctx context.Context, c *Client, in In, w io.Writer) (int64, error) {
	body, err := e.Open(ctx, c, in)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	// 1 MiB at a time, a block's size: io.Copy would move 32 KiB per
	// read and write (an *os.File's ReadFrom falls back to that for a
	// response body), and `trove cat` through the daemon then spent more
	// on syscalls than the daemon spent reading the blocks. The wrappers
	// hide ReadFrom and WriteTo so that the buffer is the one used.
	n, err := io.CopyBuffer(struct{ io.Writer }{w}, struct{ io.Reader }{body}, make([]byte, copyBuf))
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w: %w", ctx.Err(), err)
	}
	return n, err
}

// copyBuf is the size of Copy's reads and writes.
const copyBuf = 1 << 20

// UploadEndpoint is a call that sends a byte stream (dag import's CAR) and
// gets a JSON result; the arguments travel in ArgsHeader.
type UploadEndpoint[In, Out any] struct {
	Method      string // empty means POST
	Path        string
	ContentType string // of the upload; empty means ContentStream
}

// Pattern is the http.ServeMux pattern.
func (e UploadEndpoint[In, Out]) Pattern() string { return methodOr(e.Method) + " " + e.Path }

// Register serves fn, which reads the upload from body.
func (e UploadEndpoint[In, Out]) Register(s Registrar, fn func(ctx context.Context, in In, body io.Reader) (Out, error)) {
	s.Handle(e.Pattern(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in In
		if err := DecodeArgs(r, &in); err != nil {
			WriteError(w, r, err)
			return
		}
		out, err := fn(r.Context(), in, streamBody(r))
		if err != nil {
			WriteError(w, r, err)
			return
		}
		WriteJSON(w, r, out)
	}))
}

// Call streams body to the daemon and decodes the result.
func (e UploadEndpoint[In, Out]) Call(ctx context.Context, c *Client, in In, body io.Reader) (Out, error) {
	var out Out
	resp, err := c.Stream(ctx, Request{Method: e.Method, Path: e.Path, Args: in, Body: body, ContentType: e.ContentType})
	if err != nil {
		return out, err
	}
	defer resp.Close()
	if err := json.NewDecoder(resp).Decode(&out); err != nil {
		return out, fmt.Errorf("api: %s: read result: %w", e.Path, errors.Join(ctx.Err(), err))
	}
	return out, nil
}

// Body is a request's data stream and its declared Content-Type, for a
// handler that accepts more than one kind (add takes a tar stream or a
// single file's bytes).
type Body struct {
	io.Reader
	ContentType string
}

// EventEndpoint is a call that reports progress events of type Ev as
// NDJSON while it runs and ends with a result of type Out or an error (add,
// fetch, findprovs). It may also carry an upload, as add does.
type EventEndpoint[In, Ev, Out any] struct {
	Method string // empty means POST
	Path   string
}

// Pattern is the http.ServeMux pattern.
func (e EventEndpoint[In, Ev, Out]) Pattern() string { return methodOr(e.Method) + " " + e.Path }

// Register serves fn. emit sends one event; an error from it means the
// client is gone. A successful call's unread upload is drained before the
// final frame, so the connection stays usable (see DrainBody).
func (e EventEndpoint[In, Ev, Out]) Register(s Registrar, fn func(ctx context.Context, in In, body Body, emit func(Ev) error) (Out, error)) {
	s.Handle(e.Pattern(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in In
		if err := DecodeArgs(r, &in); err != nil {
			WriteError(w, r, err)
			return
		}
		ew := NewEventWriter(w, r)
		body := Body{Reader: streamBody(r), ContentType: r.Header.Get("Content-Type")}
		out, err := fn(r.Context(), in, body, func(ev Ev) error { return ew.Event(ev) })
		if err != nil {
			ew.Finish(nil, err)
			return
		}
		DrainBody(w, r)
		ew.Finish(out, nil)
	}))
}

// Call performs the call without an upload, passing each event to onEvent
// (nil ignores them; an error from it aborts the call).
func (e EventEndpoint[In, Ev, Out]) Call(ctx context.Context, c *Client, in In, onEvent func(Ev) error) (Out, error) {
	return e.Upload(ctx, c, in, Body{}, onEvent)
}

// Upload is Call with body streamed as the request body.
func (e EventEndpoint[In, Ev, Out]) Upload(ctx context.Context, c *Client, in In, body Body, onEvent func(Ev) error) (Out, error) {
	var out Out
	req := Request{Method: e.Method, Path: e.Path, Args: in, Body: body.Reader, ContentType: body.ContentType}
	err := c.Events(ctx, req, func(raw json.RawMessage) error {
		if onEvent == nil {
			return nil
		}
		var ev Ev
		if err := json.Unmarshal(raw, &ev); err != nil {
			return fmt.Errorf("api: %s: bad event: %w", e.Path, err)
		}
		return onEvent(ev)
	}, &out)
	return out, err
}

// Ping asks the daemon who it is; it doubles as a liveness check stronger
// than a successful connect.
func (c *Client) Ping(ctx context.Context) (PingResult, error) {
	return epPing.Call(ctx, c, struct{}{})
}

// Shutdown asks the daemon to stop gracefully. It returns once the request
// is accepted, before the daemon has finished stopping; wait for Dial to
// report ErrNoDaemon to know it is gone.
func (c *Client) Shutdown(ctx context.Context) error {
	_, err := epShutdown.Call(ctx, c, struct{}{})
	return err
}
