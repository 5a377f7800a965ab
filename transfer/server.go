package transfer

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/trove-p2p/trove/block"
	"golang.org/x/time/rate"
)

// Source is what a Server serves from: it reads blocks and answers
// have-queries without reading them.
type Source interface {
	block.Getter
	block.Haser
}

// ServerOptions tunes a Server. The zero value serves without rate limits
// and with the defaults noted on each field.
type ServerOptions struct {
	// MaxRequests caps the requests one peer may have open across all its
	// streams; more get StatusTooMany. Zero means 64.
	MaxRequests int
	// MaxStreams caps concurrent streams per peer; more are reset. Since
	// each stream holds at most one block in memory, this bounds memory
	// per peer to MaxStreams*block.MaxSize. Zero means 4.
	MaxStreams int
	// GlobalRate and PeerRate are upload limits in bytes per second for
	// all peers together and for each peer. Zero means unlimited.
	GlobalRate, PeerRate float64
	// WriteTimeout bounds one message write; a peer that does not read
	// for this long is reset. Zero means 30s.
	WriteTimeout time.Duration
	// IdleTimeout closes a stream on which the peer sent nothing for
	// this long. Zero means 2 minutes.
	IdleTimeout time.Duration
	// Logger receives protocol errors. Nil discards them.
	Logger *slog.Logger
	// TrustSource serves blocks as the Source returns them. The zero
	// value re-hashes each block before sending it (see verifiedSource);
	// set it only when the Source verifies reads itself.
	TrustSource bool
}

// withDefaults returns o with every zero field set to its documented
// default, the way all options types here and in unixfs apply defaults.
func (o ServerOptions) withDefaults() ServerOptions {
	if o.MaxRequests <= 0 {
		o.MaxRequests = 64
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = 4
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 2 * time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// StreamMemory is what one serving stream reserves from the resource
// manager: the largest block it holds while writing plus its read buffer.
const StreamMemory = block.MaxSize + readBufferSize

// readBufferSize is the serving stream's request reader buffer.
const readBufferSize = 16 << 10

// Server answers /trove/transfer/1.0.0 streams from a Source.
//
// Fairness between peers comes from granularity: every stream's writer
// serves one block per turn and takes it from the shared global token
// bucket, so a greedy peer cannot starve others for longer than one block.
type Server struct {
	h    host.Host
	src  Source
	opts ServerOptions
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	global *rate.Limiter

	mu       sync.Mutex
	peerRate float64
	peers    map[peer.ID]*servedPeer
	served   map[peer.ID]int64 // bytes of block data sent, kept after disconnect
}

type servedPeer struct {
	streams int
	open    int
	lim     *rate.Limiter
}

// NewServer registers the protocol handler on h. Close unregisters it.
func NewServer(h host.Host, src Source, opts ServerOptions) *Server {
	opts = opts.withDefaults()
	if !opts.TrustSource {
		src = newVerifiedSource(src, opts.Logger)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		h: h, src: src, opts: opts, log: opts.Logger,
		ctx: ctx, cancel: cancel,
		global:   rate.NewLimiter(limitOf(opts.GlobalRate), burstOf(opts.GlobalRate)),
		peerRate: opts.PeerRate,
		peers:    make(map[peer.ID]*servedPeer),
		served:   make(map[peer.ID]int64),
	}
	h.SetStreamHandler(ProtocolID, s.handle)
	return s
}

// SetLimits changes the upload limits (bytes/s, zero = unlimited) for the
// live server; streams already waiting pick them up at their next block.
func (s *Server) SetLimits(global, perPeer float64) {
	setLimit(s.global, global)
	s.mu.Lock()
	s.peerRate = perPeer
	for _, p := range s.peers {
		setLimit(p.lim, perPeer)
	}
	s.mu.Unlock()
}

// Served reports block bytes sent to each peer since the server started.
func (s *Server) Served() map[peer.ID]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[peer.ID]int64, len(s.served))
	for k, v := range s.served {
		out[k] = v
	}
	return out
}

// Close stops accepting streams and aborts the ones in progress.
func (s *Server) Close() error {
	s.h.RemoveStreamHandler(ProtocolID)
	s.cancel()
	return nil
}
