package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Wire conventions shared by server helpers and Client.
const (
	// ArgsHeader carries a call's JSON arguments when the request body is a
	// data stream (add's tar stream, stdin) and so cannot hold them.
	ArgsHeader = "X-Trove-Args"
	// ErrorTrailer carries the JSON error envelope when a streamed response
	// body fails after its first byte: the status line is long gone by then.
	ErrorTrailer = "X-Trove-Error"

	ContentJSON   = "application/json"
	ContentNDJSON = "application/x-ndjson"
	ContentStream = "application/octet-stream"
	ContentTar    = "application/x-tar"

	maxArgsBody = 1 << 20
)

func writeEnvelope(w http.ResponseWriter, status int, env envelope) {
	w.Header().Set("Content-Type", ContentJSON)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(env)
}

// WriteError sends err as the JSON error envelope with the status of its
// kind, using the registry of the server that received r.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	env, status := requestEnvelope(r, err)
	writeEnvelope(w, status, env)
}

// WriteJSON sends v as a 200 JSON response. v is encoded before anything
// is written, so an unencodable result becomes a proper 500 rather than a
// truncated 200.
func WriteJSON(w http.ResponseWriter, r *http.Request, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		WriteError(w, r, fmt.Errorf("api: encode result: %w", err))
		return
	}
	w.Header().Set("Content-Type", ContentJSON)
	w.Write(append(b, '\n'))
}

// DecodeArgs decodes the call's JSON arguments into v: from ArgsHeader when
// the client sent one (the body then being a data stream), otherwise from a
// JSON body. A request with neither leaves v untouched, i.e. default options.
// Malformed arguments wrap ErrBadRequest.
func DecodeArgs(r *http.Request, v any) error {
	if h := r.Header.Get(ArgsHeader); h != "" {
		return decodeStrict(strings.NewReader(h), v)
	}
	if r.Body == nil || r.Body == http.NoBody || !isJSON(r) {
		return nil
	}
	return decodeStrict(io.LimitReader(r.Body, maxArgsBody), v)
}

// decodeStrict rejects unknown fields: a newer CLI sending an option this
// daemon does not know must fail loudly rather than have the option
// silently ignored (e.g. a --no-pin that pins anyway).
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("%w: arguments: %v", ErrBadRequest, err)
	}
	return nil
}

// JSONHandler adapts a node method of shape (ctx, options) -> (result, error)
// to a JSON call endpoint, so exposing it is one line:
//
//	srv.Handle("POST /v0/pin/add", api.JSONHandler(n.PinAdd))
func JSONHandler[In, Out any](fn func(context.Context, In) (Out, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in In
		if err := DecodeArgs(r, &in); err != nil {
			WriteError(w, r, err)
			return
		}
		out, err := fn(r.Context(), in)
		if err != nil {
			WriteError(w, r, err)
			return
		}
		WriteJSON(w, r, out)
	})
}

// BodyHandler adapts a method that writes a byte stream (cat, dag export).
// body is the request body (empty for calls without one). Errors before the
// first byte get a normal error response; later errors travel in the
// ErrorTrailer, which Client.Stream turns back into the read error, so a
// truncated cat never looks like a complete one.
func BodyHandler[In any](contentType string, fn func(ctx context.Context, in In, body io.Reader, out io.Writer) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in In
		if err := DecodeArgs(r, &in); err != nil {
			WriteError(w, r, err)
			return
		}
		bw := NewBodyWriter(w, r, contentType)
		bw.Finish(fn(r.Context(), in, streamBody(r), bw))
	})
}

// EventHandler adapts a method that reports progress (add, transfers):
// emit sends one NDJSON event; the returned result or error becomes the
// final frame.
func EventHandler[In, Out any](fn func(ctx context.Context, in In, body io.Reader, emit func(event any) error) (Out, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in In
		if err := DecodeArgs(r, &in); err != nil {
			WriteError(w, r, err)
			return
		}
		ew := NewEventWriter(w, r)
		out, err := fn(r.Context(), in, streamBody(r), ew.Event)
		if err != nil {
			ew.Finish(nil, err)
			return
		}
		DrainBody(w, r)
		ew.Finish(out, nil)
	})
}

// DrainBody reads what is left of a request body that a handler has
// finished with (a tar's end padding, the chunked terminator), up to
// 1 MiB and for at most a second. A streaming response has sent its
// headers long before, so the server cannot announce that it will close
// the connection; if it then closed it over unread body bytes, the client
// could reuse the dead connection for its next call and get "connection
// reset".
func DrainBody(w http.ResponseWriter, r *http.Request) {
	if r.Body == nil {
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Now().Add(time.Second))
	io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
	_ = rc.SetReadDeadline(time.Time{})
}

// streamBody returns the data body, or an empty reader when the body held
// the JSON arguments (already consumed) or nothing.
func streamBody(r *http.Request) io.Reader {
	if r.Body == nil || r.Header.Get(ArgsHeader) == "" && isJSON(r) {
		return http.NoBody
	}
	return r.Body
}

func isJSON(r *http.Request) bool {
	ct := r.Header.Get("Content-Type")
	return ct == ContentJSON || strings.HasPrefix(ct, ContentJSON+";")
}

// BodyWriter streams a response body and reports a late failure in the
// ErrorTrailer.
type BodyWriter struct {
	w       http.ResponseWriter
	r       *http.Request
	ctype   string
	started bool
}

// NewBodyWriter prepares w for a streamed body of contentType.
func NewBodyWriter(w http.ResponseWriter, r *http.Request, contentType string) *BodyWriter {
	// Declaring the trailer before the header is written is what makes
	// net/http send it after the chunked body.
	w.Header().Set("Trailer", ErrorTrailer)
	return &BodyWriter{w: w, r: r, ctype: contentType}
}

func (b *BodyWriter) Write(p []byte) (int, error) {
	if !b.started {
		b.started = true
		if b.ctype == "" {
			b.ctype = ContentStream
		}
		b.w.Header().Set("Content-Type", b.ctype)
		b.w.Header().Set("X-Content-Type-Options", "nosniff")
		b.w.WriteHeader(http.StatusOK)
	}
	return b.w.Write(p)
}

// Finish ends the response: a nil err completes it; otherwise the error goes
// into the status line if nothing was written yet, else into the trailer.
func (b *BodyWriter) Finish(err error) {
	if err == nil {
		if !b.started {
			b.Write(nil)
		}
		return
	}
	if !b.started {
		b.w.Header().Del("Trailer")
		WriteError(b.w, b.r, err)
		return
	}
	env, _ := requestEnvelope(b.r, err)
	js, _ := json.Marshal(env)
	b.w.Header().Set(ErrorTrailer, string(js))
}

// frame is one NDJSON line. Exactly one of Event, Result or Error/Kind is
// set; a stream is complete only once a Result or Error frame arrived.
type frame struct {
	Event  json.RawMessage `json:"event,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  string          `json:"error,omitempty"`
	Kind   string          `json:"kind,omitempty"`
}

// EventWriter writes an NDJSON progress stream. Each event is flushed at
// once so the client sees progress live. It is safe for concurrent use, since
// progress often comes from worker goroutines.
type EventWriter struct {
	mu       sync.Mutex
	w        http.ResponseWriter
	r        *http.Request
	rc       *http.ResponseController
	started  bool
	finished bool
}

// NewEventWriter prepares w for an event stream. It switches the connection
// to full duplex so a handler can keep reading a large upload while it
// reports progress; net/http would otherwise stop reading the body at the
// first write.
func NewEventWriter(w http.ResponseWriter, r *http.Request) *EventWriter {
	rc := http.NewResponseController(w)
	_ = rc.EnableFullDuplex() // unsupported on HTTP/2, which is duplex anyway
	return &EventWriter{w: w, r: r, rc: rc}
}

func (e *EventWriter) start() {
	if !e.started {
		e.started = true
		e.w.Header().Set("Content-Type", ContentNDJSON)
		e.w.Header().Set("X-Content-Type-Options", "nosniff")
		e.w.WriteHeader(http.StatusOK)
	}
}

func (e *EventWriter) send(f frame) error {
	b, err := json.Marshal(f)
	if err != nil {
		return err
	}
	e.start()
	if _, err := e.w.Write(append(b, '\n')); err != nil {
		return err
	}
	return e.rc.Flush()
}

// Event sends v as a progress event. An error means the client is gone and
// the handler should stop.
func (e *EventWriter) Event(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("api: encode event: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.finished {
		return errors.New("api: event after final frame")
	}
	return e.send(frame{Event: b})
}

// Finish sends the final frame: err if non-nil, else result. Before any
// event was sent an error uses a plain error response with its HTTP status.
func (e *EventWriter) Finish(result any, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.finished {
		return
	}
	e.finished = true
	if err != nil {
		if !e.started {
			WriteError(e.w, e.r, err)
			return
		}
		env, _ := requestEnvelope(e.r, err)
		e.send(frame{Error: env.Error, Kind: env.Kind})
		return
	}
	b, merr := json.Marshal(result)
	if merr != nil {
		env, _ := kindsFrom(e.r.Context()).envelope(fmt.Errorf("api: encode result: %w", merr))
		e.send(frame{Error: env.Error, Kind: env.Kind})
		return
	}
	e.send(frame{Result: b})
}
