package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/gateway"
)

// GatewayBackend adapts the content API to what the HTTP gateway reads.
// Each request gets a Content of its own Source: the gateway's default
// (network unless offline), or local blocks only.
type GatewayBackend struct {
	N *Node
	// Offline serves local blocks only, whatever a request asks.
	Offline bool
}

// Content implements gateway.Backend.
func (b GatewayBackend) Content(offline bool) gateway.Content {
	return gatewayContent{b.N.Content(Source{Offline: offline || b.Offline})}
}

type gatewayContent struct{ c *Content }

// gatewayReadAhead is the read-ahead, in blocks, of a whole-file
// response. The default 8 leaves a remote stream waiting on round trips;
// a response reads to the end anyway, so keeping more in flight costs only
// memory (up to this many 1 MiB blocks per response).
const gatewayReadAhead = 32

func (g gatewayContent) Get(ctx context.Context, k cid.Cid) ([]byte, error) {
	return g.c.Block(ctx, k)
}

func (g gatewayContent) Open(ctx context.Context, k cid.Cid, whole bool) (gateway.File, error) {
	o := OpenOptions{Whole: whole}
	if whole {
		o.File.Prefetch = gatewayReadAhead
	}
	f, err := g.c.Open(ctx, k, o)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (g gatewayContent) DAG(ctx context.Context, root cid.Cid) (block.Getter, func()) {
	return g.c.DAG(ctx, root)
}

// gatewayServer is the daemon's running gateway.
type gatewayServer struct {
	srv *http.Server
	url string
	// cancel ends the contexts of in-flight requests, so their fetches
	// stop before the store closes.
	cancel context.CancelFunc
	done   chan struct{}
}

// startGateway serves the HTTP gateway as the config and o say. An
// address given by flag must bind; the configured one (by default the
// well-known 127.0.0.1:8180) may be taken by another daemon on this
// machine, which only costs this one its gateway, with a warning.
func (d *Daemon) startGateway(o DaemonOptions) error {
	cfg := d.node.repo.Config.Gateway
	addr, explicit := cfg.ListenAddr, false
	if o.Gateway != "" {
		addr, explicit = o.Gateway, true
	}
	if o.NoGateway || addr == "" {
		return nil
	}
	retrieval, request, err := cfg.Durations()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if !explicit && errors.Is(err, syscall.EADDRINUSE) {
			d.log.Warn("gateway address in use; running without a gateway (set Gateway.ListenAddr or --gateway)", "addr", addr)
			return nil
		}
		return fmt.Errorf("gateway: %w", err)
	}
	h := gateway.New(GatewayBackend{N: d.node, Offline: cfg.Offline || o.GatewayOffline}, gateway.Options{
		Offline:            cfg.Offline || o.GatewayOffline,
		RetrievalTimeout:   retrieval,
		MaxRequestDuration: request,
		MaxConcurrent:      cfg.MaxConcurrent,
		RatePerClient:      cfg.RatePerClient,
		Subdomain:          []string{"localhost"},
		Logger:             d.log.With("component", "gateway"),
	})
	ctx, cancel := context.WithCancel(context.Background())
	g := &gatewayServer{
		srv: &http.Server{
			Handler:           d.track(h),
			ReadHeaderTimeout: 10 * time.Second,
			MaxHeaderBytes:    64 << 10,
			BaseContext:       func(net.Listener) context.Context { return ctx },
		},
		url:    "http://" + ln.Addr().String(),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	go func() {
		defer close(g.done)
		g.srv.Serve(ln)
	}()
	d.gw = g
	d.log.Info("gateway serving", "url", g.url)
	return nil
}

// GatewayURL is the bound gateway's base URL, or "" when it is off.
func (d *Daemon) GatewayURL() string {
	if d.gw == nil {
		return ""
	}
	return d.gw.url
}

// stopGateway stops accepting, cancels in-flight requests (their clients
// see a cut response) and waits for the server to finish.
func (d *Daemon) stopGateway() {
	if d.gw == nil {
		return
	}
	d.gw.cancel()
	d.gw.srv.Close()
	<-d.gw.done
}
