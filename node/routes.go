package node

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/trove-p2p/trove/blockstore"
	"github.com/trove-p2p/trove/node/api"
	"github.com/trove-p2p/trove/node/p2p"
	"github.com/trove-p2p/trove/node/repo"
	"github.com/trove-p2p/trove/transfer"
	"github.com/trove-p2p/trove/unixfs/importer"
)

// addProgressTick spaces add's progress events on the wire.
const addProgressTick = 100 * time.Millisecond

// PathArgs names the content an operation acts on.
type PathArgs struct {
	Path string `json:"Path"`
}

// PinAddArgs are the arguments of pin add.
type PinAddArgs struct {
	Path    string        `json:"Path"`
	Options PinAddOptions `json:"Options"`
}

// ResolveResult is the answer of resolve and provide.
type ResolveResult struct {
	Cid string `json:"Cid"`
}

// AddProgress is the event add streams while importing.
type AddProgress struct {
	Bytes int64 `json:"Bytes"`
}

// IDResult describes this node for `trove id`.
type IDResult struct {
	ID string `json:"ID"`
	// Addrs end in /p2p/<ID>, ready for another node's --bootstrap.
	Addrs []string `json:"Addrs"`
	// Gateway is the HTTP gateway's URL; empty when it is off.
	Gateway string `json:"Gateway,omitempty"`
}

// PeerResult is one connected peer for `trove peers`.
type PeerResult struct {
	ID        string   `json:"ID"`
	Addrs     []string `json:"Addrs"`
	Latency   string   `json:"Latency,omitempty"`
	Direction string   `json:"Direction"`
	// Banned is when this peer's ban ends (RFC 3339), set only while
	// the fetcher refuses it for a bad block or a protocol breach; the
	// connection may stay open (it can still fetch from us), so the ban
	// shows here as well as in stats.
	Banned    *time.Time `json:"Banned,omitempty"`
	BanReason string     `json:"BanReason,omitempty"`
}

// ConnectArgs names the peer `trove connect` dials.
type ConnectArgs struct {
	Addr string `json:"Addr"`
}

// FindProvsArgs qualify a provider lookup.
type FindProvsArgs struct {
	Cid string `json:"Cid"`
	// Timeout bounds the lookup; zero means 30s.
	Timeout Duration `json:"Timeout,omitempty"`
	// Num stops after that many providers; zero means 20.
	Num int `json:"Num,omitempty"`
}

// ProviderEvent is one provider found, streamed as soon as the DHT yields it.
type ProviderEvent struct {
	ID    string   `json:"ID"`
	Addrs []string `json:"Addrs"`
}

// FindProvsResult ends a lookup.
type FindProvsResult struct {
	Found int `json:"Found"`
}

// StatsResult is `trove stats`: network and repo figures in one place.
type StatsResult struct {
	PeerID       string  `json:"PeerID"`
	Peers        int     `json:"Peers"`
	RoutingTable int     `json:"RoutingTable"`
	TotalIn      int64   `json:"TotalIn"`
	TotalOut     int64   `json:"TotalOut"`
	RateIn       float64 `json:"RateIn"`
	RateOut      float64 `json:"RateOut"`
	Blocks       int64   `json:"Blocks"`
	RepoBytes    int64   `json:"RepoBytes"`
	DiskBytes    int64   `json:"DiskBytes"`
	Pins         int64   `json:"Pins"`
	// Resources are libp2p's resource-manager limits and what is in use.
	Resources ResourceStats `json:"Resources"`
}

// ResourceStats bounds what peers can make the daemon hold
// (Swarm.ResourceMgr in the config), with current use. Transfer figures
// are for inbound /trove/transfer/1.0.0 streams.
type ResourceStats struct {
	Memory                 int64 `json:"Memory"`
	MemoryUsed             int64 `json:"MemoryUsed"`
	Conns                  int   `json:"Conns"`
	ConnsInbound           int   `json:"ConnsInbound"`
	ConnsUsed              int   `json:"ConnsUsed"`
	Streams                int   `json:"Streams"`
	StreamsUsed            int   `json:"StreamsUsed"`
	StreamsPerPeer         int   `json:"StreamsPerPeer"`
	TransferStreams        int   `json:"TransferStreams"`
	TransferStreamsUsed    int   `json:"TransferStreamsUsed"`
	TransferStreamsPerPeer int   `json:"TransferStreamsPerPeer"`
	TransferMemory         int64 `json:"TransferMemory"`
	TransferMemoryUsed     int64 `json:"TransferMemoryUsed"`
	TransferMemoryPerPeer  int64 `json:"TransferMemoryPerPeer"`
}

func resourceStats(l p2p.Limits) ResourceStats {
	t := l.Protocols[transfer.ProtocolID]
	return ResourceStats{
		Memory: l.Memory, MemoryUsed: l.MemoryUsed,
		Conns: l.Conns, ConnsInbound: l.ConnsInbound, ConnsUsed: l.ConnsUsed,
		Streams: l.Streams, StreamsUsed: l.StreamsUsed, StreamsPerPeer: l.StreamsPerPeer,
		TransferStreams: t.Streams, TransferStreamsUsed: t.StreamsUsed, TransferStreamsPerPeer: t.StreamsPerPeer,
		TransferMemory: t.Memory, TransferMemoryUsed: t.MemoryUsed, TransferMemoryPerPeer: t.MemoryPerPeer,
	}
}

// Duration is a time.Duration that travels as a Go duration string.
type Duration time.Duration

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	*d = Duration(v)
	return nil
}

// Default limits of a provider lookup.
const (
	DefaultFindProvsTimeout = 30 * time.Second
	DefaultFindProvsNum     = 20
)

// KindNoSpace is the API error kind of blockstore.ErrNoSpace.
const KindNoSpace = "no-space"

// KindWriteRefused is the API error kind of ErrWriteRefused.
const KindWriteRefused = "write-refused"

// KindReadRefused is the API error kind of ErrReadRefused.
const KindReadRefused = "read-refused"

// Kinds is the error registry of the node's API: the api defaults plus the
// sentinels of the layers below, so an error keeps its exit code across
// the socket.
func Kinds() *api.Kinds {
	k := api.DefaultKinds()
	k.Register(api.KindLocked, http.StatusConflict, blockstore.ErrLocked)
	k.Register(KindNoSpace, http.StatusInsufficientStorage, blockstore.ErrNoSpace)
	k.Register(api.KindBadRequest, http.StatusBadRequest, importer.ErrParams)
	k.Register(api.KindBadRequest, http.StatusBadRequest, ErrBadTar)
	k.Register(api.KindExists, http.StatusConflict, repo.ErrExists)
	k.Register(api.KindUnsupported, http.StatusServiceUnavailable, ErrNoNetwork)
	k.Register(KindWriteRefused, http.StatusForbidden, ErrWriteRefused)
	k.Register(KindReadRefused, http.StatusForbidden, ErrReadRefused)
	return k
}

// routes registers every operation of the daemon on its API server, each
// through its endpoint (endpoints.go). A route only decodes, calls and
// encodes: what an operation does besides (announcing, counting, pinning)
// happens in the Node or Daemon method it calls, the same for callers in
// this process.
func (d *Daemon) routes() {
	s, n := tracked{d}, d.node
	epAdd.Register(s, func(ctx context.Context, o AddOptions, body api.Body, emit func(AddProgress) error) (AddResult, error) {
		if o.LocalFiles && !api.LocalUser(ctx) {
			return AddResult{}, ErrReadRefused
		}
		entries := ReaderEntry(body.Reader)
		if body.ContentType == api.ContentTar {
			entries = tarEntries(body.Reader, o.LocalFiles)
		}
		// Progress comes from the importing goroutine; ticking it keeps
		// a fast import from spending its time writing events.
		var mu sync.Mutex
		var last time.Time
		o.Progress = func(b int64) {
			mu.Lock()
			defer mu.Unlock()
			if now := time.Now(); now.Sub(last) >= addProgressTick {
				last = now
				emit(AddProgress{Bytes: b})
			}
		}
		return n.Add(ctx, entries, o)
	})
	epCat.Register(s, func(ctx context.Context, a PathArgs, w io.Writer) error {
		_, err := n.Cat(ctx, a.Path, w)
		return err
	})
	epLs.Register(s, func(ctx context.Context, a PathArgs) ([]LsEntry, error) { return n.Ls(ctx, a.Path) })
	epRefer.Register(s, func(ctx context.Context, a ReferArgs) (ReferResult, error) { return n.Refer(ctx, a) })
	epResolve.Register(s, func(ctx context.Context, a PathArgs) (ResolveResult, error) {
		c, err := n.Resolve(ctx, a.Path)
		if err != nil {
			return ResolveResult{}, err
		}
		return ResolveResult{Cid: c.String()}, nil
	})
	epPinAdd.Register(s, func(ctx context.Context, a PinAddArgs) (PinInfo, error) { return n.PinAdd(ctx, a.Path, a.Options) })
	epPinRm.Register(s, func(ctx context.Context, a PathArgs) (PinInfo, error) { return n.PinRm(ctx, a.Path) })
	epPinLs.Register(s, func(ctx context.Context, _ struct{}) ([]PinInfo, error) { return n.PinLs(ctx) })
	epGC.Register(s, func(ctx context.Context, _ struct{}) (GCResult, error) { return n.GC(ctx) })
	epRepoStat.Register(s, func(ctx context.Context, _ struct{}) (RepoStat, error) { return n.RepoStat(ctx) })
	epRepoVerify.Register(s, func(ctx context.Context, o RepoVerifyOptions, _ api.Body, emit func(VerifyProgress) error) (RepoVerifyResult, error) {
		// Events are ticked like add's: one per block would cost more
		// than hashing small blocks.
		var last time.Time
		o.Progress = func(p VerifyProgress) {
			if now := time.Now(); now.Sub(last) >= addProgressTick {
				last = now
				emit(p)
			}
		}
		return n.RepoVerify(ctx, o)
	})
	epBlockGet.Register(s, func(ctx context.Context, a PathArgs, w io.Writer) error {
		_, err := n.BlockGet(ctx, a.Path, w)
		return err
	})
	epBlockStat.Register(s, func(ctx context.Context, a PathArgs) (BlockStat, error) { return n.BlockStat(ctx, a.Path) })
	epDagExport.Register(s, func(ctx context.Context, a PathArgs, w io.Writer) error { return n.DagExport(ctx, a.Path, w) })
	epDagImport.Register(s, func(ctx context.Context, o DagImportOptions, body io.Reader) (DagImportResult, error) {
		return n.DagImport(ctx, body, o)
	})

	epID.Register(s, func(ctx context.Context, _ struct{}) (IDResult, error) { return d.ID(ctx) })
	epPeers.Register(s, func(ctx context.Context, _ struct{}) ([]PeerResult, error) { return d.Peers(ctx) })
	epConnect.Register(s, func(ctx context.Context, a ConnectArgs) (IDResult, error) { return d.Connect(ctx, a.Addr) })
	epProvide.Register(s, func(ctx context.Context, a PathArgs) (ResolveResult, error) {
		c, err := d.Provide(ctx, a.Path)
		return ResolveResult{Cid: c}, err
	})
	epFindProvs.Register(s, func(ctx context.Context, a FindProvsArgs, _ api.Body, emit func(ProviderEvent) error) (FindProvsResult, error) {
		return d.FindProviders(ctx, a, emit)
	})
	epStats.Register(s, func(ctx context.Context, _ struct{}) (StatsResult, error) { return d.Stats(ctx) })

	epFetch.Register(s, func(ctx context.Context, a FetchArgs, _ api.Body, emit func(FetchProgress) error) (FetchResult, error) {
		return n.Fetch(ctx, a, func(p FetchProgress) { emit(p) })
	})
	epFetchTo.Register(s, func(ctx context.Context, a FetchToArgs, _ api.Body, emit func(FetchProgress) error) (FetchToResult, error) {
		if !api.LocalUser(ctx) {
			return FetchToResult{}, ErrWriteRefused
		}
		return d.FetchTo(ctx, a, func(p FetchProgress) { emit(p) })
	})
	epFetchToStop.Register(s, func(ctx context.Context, a FetchToStop) (struct{}, error) {
		d.StopFetchTo(a.ID)
		return struct{}{}, nil
	})
	epLimits.Register(s, func(ctx context.Context, a LimitsArgs) (Limits, error) { return n.SetLimits(a) })
	epTransfers.Register(s, func(ctx context.Context, _ struct{}) (TransferStats, error) { return n.Transfers() })
	epMount.Register(s, func(ctx context.Context, a MountArgs, body api.Body, emit func(MountEvent) error) (MountResult, error) {
		return d.MountHeld(ctx, a, body, emit)
	})
	epFetchBlock.Register(s, func(ctx context.Context, a FetchBlockArgs, w io.Writer) error {
		data, err := n.FetchBlock(ctx, a)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	})
}

// tracked registers routes whose handlers the daemon tracks (see track).
type tracked struct{ d *Daemon }

func (t tracked) Handle(pattern string, h http.Handler) { t.d.api.Handle(pattern, t.d.track(h)) }
