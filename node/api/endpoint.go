package api

import (
	"context"
	"net/http"
	"time"
)

// Built-in routes every daemon serves.
const (
	PathPing     = "/v0/ping"
	PathShutdown = "/v0/shutdown"
)

// PingResult identifies the daemon answering, for `daemon status` output and
// for scripts waiting for a restart.
type PingResult struct {
	PID   int       `json:"pid"`
	Since time.Time `json:"since"`
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

func (e Endpoint[In, Out]) method() string {
	if e.Method == "" {
		return http.MethodPost
	}
	return e.Method
}

// Pattern is the http.ServeMux pattern, e.g. "POST /v0/pin/add".
func (e Endpoint[In, Out]) Pattern() string { return e.method() + " " + e.Path }

// Register serves fn at the endpoint.
func (e Endpoint[In, Out]) Register(s *Server, fn func(context.Context, In) (Out, error)) {
	s.Handle(e.Pattern(), JSONHandler(fn))
}

// Call invokes the endpoint on the daemon.
func (e Endpoint[In, Out]) Call(ctx context.Context, c *Client, in In) (Out, error) {
	var out Out
	err := c.Call(ctx, e.method(), e.Path, in, &out)
	return out, err
}

// Ping asks the daemon who it is; it doubles as a liveness check stronger
// than a successful connect.
func (c *Client) Ping(ctx context.Context) (PingResult, error) {
	var out PingResult
	err := c.Call(ctx, http.MethodGet, PathPing, nil, &out)
	return out, err
}

// Shutdown asks the daemon to stop gracefully. It returns once the request
// is accepted, before the daemon has finished stopping; wait for Dial to
// report ErrNoDaemon to know it is gone.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.Call(ctx, http.MethodPost, PathShutdown, nil, nil)
}
