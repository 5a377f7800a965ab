// Package gateway is trove's HTTP gateway: the IPFS path gateway
// (/ipfs/{cid}/path) for UnixFS and the trustless responses (raw blocks,
// CAR streams), read through a Backend so that it never depends on how or
// where blocks are stored or fetched. The daemon wires it to the node's
// content API (node/gateway.go); tests wire it to a real offline node.
package gateway

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"golang.org/x/time/rate"

	"github.com/trove-p2p/trove/block"
)

// Content is the read path the gateway needs for one request. Get returns
// verified blocks, fetching a missing one alone; the others exist because
// files and whole DAGs read far faster through a download that knows what
// comes next than block by block.
type Content interface {
	block.Getter
	// Open opens a UnixFS file or raw block for random access. With
	// whole, the rest of the DAG downloads in the background (a full
	// response); without, only blocks a read touches are fetched.
	Open(ctx context.Context, c cid.Cid, whole bool) (File, error)
	// DAG returns a getter that downloads the whole DAG under root in the
	// background while serving Get first. Call done when finished.
	DAG(ctx context.Context, root cid.Cid) (g block.Getter, done func())
}

// File is an open UnixFS file.
type File interface {
	io.ReadSeeker
	io.ReaderAt
	io.Closer
	Size() int64
}

// Backend hands out the read path for a request. offline asks for local
// blocks only (Cache-Control: only-if-cached): a missing block then fails
// at once with block.ErrNotFound.
type Backend interface {
	Content(offline bool) Content
}

// Options configures a gateway. The zero value of each field picks the
// default documented on it.
type Options struct {
	// Offline serves local content only; a request for anything missing
	// fails without asking the network.
	Offline bool
	// RetrievalTimeout is how long a request may wait for the next block
	// before it fails with 504. Zero means 30 s.
	RetrievalTimeout time.Duration
	// MaxRequestDuration bounds one request, body included. Zero means
	// one hour; a 1 GiB file at 1 MB/s still fits.
	MaxRequestDuration time.Duration
	// MaxConcurrent is how many requests are served at once; more are
	// answered 429 at once rather than queued. It also bounds memory: a
	// whole-file response keeps up to 32 MiB of read-ahead. Zero means 64,
	// far above what browsers open against one host.
	MaxConcurrent int
	// RatePerClient is the sustained requests per second one client IP
	// may make, with RateBurst above it. Zero means 200/s; negative
	// means unlimited.
	RatePerClient float64
	// RateBurst is the per-client burst. Zero means 10 s worth of
	// RatePerClient.
	RateBurst int
	// Subdomain enables {cid}.ipfs.{host} origins on these hosts (e.g.
	// "localhost"); a path request whose Host is one of them redirects
	// there.
	Subdomain []string
	// Logger receives one warning per failed request; nil discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.RetrievalTimeout <= 0 {
		o.RetrievalTimeout = 30 * time.Second
	}
	if o.MaxRequestDuration <= 0 {
		o.MaxRequestDuration = time.Hour
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 64
	}
	if o.RatePerClient == 0 {
		o.RatePerClient = 200
	}
	if o.RateBurst <= 0 {
		o.RateBurst = int(max(10*o.RatePerClient, 1))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Handler serves the gateway. It is safe for concurrent use.
type Handler struct {
	b    Backend
	o    Options
	sem  chan struct{}
	rate *clientRates
}

// New returns a gateway handler over b.
func New(b Backend, o Options) *Handler {
	o = o.withDefaults()
	h := &Handler{b: b, o: o, sem: make(chan struct{}, o.MaxConcurrent)}
	if o.RatePerClient > 0 {
		h.rate = &clientRates{limit: rate.Limit(o.RatePerClient), burst: o.RateBurst, m: map[string]*clientRate{}}
	}
	return h
}

// ServeHTTP applies the limits, then routes the request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.rate != nil && !h.rate.allow(clientIP(r)) {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "429 Too Many Requests: request rate limit for this client exceeded", http.StatusTooManyRequests)
		return
	}
	select {
	case h.sem <- struct{}{}:
		defer func() { <-h.sem }()
	default:
		w.Header().Set("Retry-After", "1")
		http.Error(w, "429 Too Many Requests: the gateway is serving its maximum number of requests", http.StatusTooManyRequests)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.o.MaxRequestDuration)
	defer cancel()
	h.route(w, r.WithContext(ctx))
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// clientRates holds one token bucket per client IP. The map is swept of
// idle clients as it grows, so a scan from many addresses cannot grow it
// without bound.
type clientRates struct {
	limit rate.Limit
	burst int
	mu    sync.Mutex
	m     map[string]*clientRate
}

type clientRate struct {
	l    *rate.Limiter
	seen time.Time
}

const maxTrackedClients = 10000

func (c *clientRates) allow(ip string) bool {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	cr, ok := c.m[ip]
	if !ok {
		if len(c.m) >= maxTrackedClients {
			for k, v := range c.m {
				// A client idle long enough to have refilled its
				// bucket loses nothing by being forgotten.
				if now.Sub(v.seen) > time.Duration(float64(c.burst)/float64(c.limit)*float64(time.Second)) {
					delete(c.m, k)
				}
			}
			if len(c.m) >= maxTrackedClients {
				return false
			}
		}
		cr = &clientRate{l: rate.NewLimiter(c.limit, c.burst)}
		c.m[ip] = cr
	}
	cr.seen = now
	return cr.l.AllowN(now, 1)
}

// errStalled is the cause of a request context cancelled because no block
// arrived within RetrievalTimeout.
var errStalled = errors.New("retrieval timeout")
