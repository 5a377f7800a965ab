package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/blockstore"
	"github.com/trove-p2p/trove/node/api"
	"github.com/trove-p2p/trove/node/repo"
	"github.com/trove-p2p/trove/unixfs/importer"
)

// API paths of the node operations. Remote (the CLI's client) and Routes
// (the daemon) both use these, so they cannot drift apart.
const (
	PathAdd         = "/v0/add"
	PathCat         = "/v0/cat"
	PathLs          = "/v0/ls"
	PathResolve     = "/v0/resolve"
	PathPinAdd      = "/v0/pin/add"
	PathPinRm       = "/v0/pin/rm"
	PathPinLs       = "/v0/pin/ls"
	PathGC          = "/v0/gc"
	PathRepoStat    = "/v0/repo/stat"
	PathBlockGet    = "/v0/block/get"
	PathBlockStat   = "/v0/block/stat"
	PathDagExport   = "/v0/dag/export"
	PathDagImport   = "/v0/dag/import"
	PathID          = "/v0/id"
	PathPeers       = "/v0/peers"
	PathConnect     = "/v0/connect"
	PathProvide     = "/v0/routing/provide"
	PathFindProvs   = "/v0/routing/findprovs"
	PathStats       = "/v0/stats"
	addProgressTick = 100 * time.Millisecond
)

// PathArgs names the content an operation acts on.
type PathArgs struct {
	Path string `json:"Path"`
}

// PinAddArgs are the arguments of PathPinAdd.
type PinAddArgs struct {
	Path    string        `json:"Path"`
	Options PinAddOptions `json:"Options"`
}

// ResolveResult is the answer of PathResolve.
type ResolveResult struct {
	Cid string `json:"Cid"`
}

// AddProgress is the event PathAdd streams while importing.
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

// Kinds is the error registry of the node's API: the api defaults plus the
// sentinels of the layers below, so an error keeps its exit code across
// the socket.
func Kinds() *api.Kinds {
	k := api.DefaultKinds()
	k.Register(api.KindLocked, http.StatusConflict, blockstore.ErrLocked)
	k.Register(api.KindBadRequest, http.StatusBadRequest, importer.ErrParams)
	k.Register(api.KindBadRequest, http.StatusBadRequest, ErrBadTar)
	k.Register(api.KindExists, http.StatusConflict, repo.ErrExists)
	k.Register(api.KindUnsupported, http.StatusServiceUnavailable, ErrNoNetwork)
	return k
}

// Routes registers every node operation on s. d may be nil, in which case
// the network routes answer ErrNoNetwork.
func Routes(srv *api.Server, n *Node, d *Daemon) {
	s := handler{srv, d}
	s.Handle("POST "+PathAdd, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var o AddOptions
		if err := api.DecodeArgs(r, &o); err != nil {
			api.WriteError(w, r, err)
			return
		}
		var entries = ReaderEntry(r.Body)
		if ct := r.Header.Get("Content-Type"); ct == api.ContentTar {
			entries = TarEntries(r.Body)
		}
		ew := api.NewEventWriter(w, r)
		// Progress comes from the importing goroutine; ticking it keeps
		// a fast import from spending its time writing events.
		var mu sync.Mutex
		var last time.Time
		o.Progress = func(b int64) {
			mu.Lock()
			defer mu.Unlock()
			if now := time.Now(); now.Sub(last) >= addProgressTick {
				last = now
				ew.Event(AddProgress{Bytes: b})
			}
		}
		res, err := n.Add(r.Context(), entries, o)
		if err == nil && d != nil {
			d.metrics.added(res)
			if !o.OnlyHash && !o.NoPin {
				for _, root := range res.Roots {
					if c, perr := ParseCID(root); perr == nil {
						d.Provide(c)
					}
				}
			}
		}
		if err == nil {
			api.DrainBody(w, r)
		}
		ew.Finish(res, err)
	}))
	s.Handle("POST "+PathCat, api.BodyHandler(api.ContentStream, func(ctx context.Context, a PathArgs, _ io.Reader, w io.Writer) error {
		_, err := n.Cat(ctx, a.Path, w)
		return err
	}))
	s.Handle("POST "+PathLs, api.JSONHandler(func(ctx context.Context, a PathArgs) ([]LsEntry, error) {
		return n.Ls(ctx, a.Path)
	}))
	s.Handle("POST "+PathResolve, api.JSONHandler(func(ctx context.Context, a PathArgs) (ResolveResult, error) {
		c, err := n.Resolve(ctx, a.Path)
		if err != nil {
			return ResolveResult{}, err
		}
		return ResolveResult{Cid: c.String()}, nil
	}))
	s.Handle("POST "+PathPinAdd, api.JSONHandler(func(ctx context.Context, a PinAddArgs) (PinInfo, error) {
		p, err := n.PinAdd(ctx, a.Path, a.Options)
		if err == nil && d != nil && !a.Options.Direct {
			if c, perr := ParseCID(p.Cid); perr == nil {
				d.Provide(c)
			}
		}
		return p, err
	}))
	s.Handle("POST "+PathPinRm, api.JSONHandler(func(ctx context.Context, a PathArgs) (PinInfo, error) {
		return n.PinRm(ctx, a.Path)
	}))
	s.Handle("POST "+PathPinLs, api.JSONHandler(func(ctx context.Context, _ struct{}) ([]PinInfo, error) {
		return n.PinLs(ctx)
	}))
	s.Handle("POST "+PathGC, api.JSONHandler(func(ctx context.Context, _ struct{}) (GCResult, error) {
		return n.GC(ctx)
	}))
	s.Handle("POST "+PathRepoStat, api.JSONHandler(func(ctx context.Context, _ struct{}) (RepoStat, error) {
		return n.RepoStat(ctx)
	}))
	s.Handle("POST "+PathBlockGet, api.BodyHandler(api.ContentStream, func(ctx context.Context, a PathArgs, _ io.Reader, w io.Writer) error {
		_, err := n.BlockGet(ctx, a.Path, w)
		return err
	}))
	s.Handle("POST "+PathBlockStat, api.JSONHandler(func(ctx context.Context, a PathArgs) (BlockStat, error) {
		return n.BlockStat(ctx, a.Path)
	}))
	s.Handle("POST "+PathDagExport, api.BodyHandler("application/vnd.ipld.car", func(ctx context.Context, a PathArgs, _ io.Reader, w io.Writer) error {
		return n.DagExport(ctx, a.Path, w)
	}))
	s.Handle("POST "+PathDagImport, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var o DagImportOptions
		if err := api.DecodeArgs(r, &o); err != nil {
			api.WriteError(w, r, err)
			return
		}
		res, err := n.DagImport(r.Context(), r.Body, o)
		if err != nil {
			api.WriteError(w, r, err)
			return
		}
		if d != nil {
			d.metrics.importBlocks.Add(float64(res.Blocks))
			if !o.NoPin {
				for _, root := range res.Roots {
					if c, perr := ParseCID(root); perr == nil {
						d.Provide(c)
					}
				}
			}
		}
		api.WriteJSON(w, r, res)
	}))
	networkRoutes(s, n, d)
}

// handler registers routes, tracked by the daemon when there is one.
type handler struct {
	s *api.Server
	d *Daemon
}

func (h handler) Handle(pattern string, x http.Handler) {
	if h.d != nil {
		x = h.d.track(x)
	}
	h.s.Handle(pattern, x)
}

func networkRoutes(s handler, n *Node, d *Daemon) {
	need := func() error {
		if d == nil || d.net == nil {
			return ErrNoNetwork
		}
		return nil
	}
	s.Handle("POST "+PathID, api.JSONHandler(func(ctx context.Context, _ struct{}) (IDResult, error) {
		if err := need(); err != nil {
			return IDResult{}, err
		}
		return IDResult{ID: d.net.ID().String(), Addrs: addrStrings(d.net.Addrs()), Gateway: d.GatewayURL()}, nil
	}))
	s.Handle("POST "+PathPeers, api.JSONHandler(func(ctx context.Context, _ struct{}) ([]PeerResult, error) {
		if err := need(); err != nil {
			return nil, err
		}
		out := []PeerResult{}
		for _, p := range d.net.Peers() {
			pr := PeerResult{ID: p.ID.String(), Addrs: addrStrings(p.Addrs), Direction: p.Direction.String()}
			if p.Latency > 0 {
				pr.Latency = p.Latency.Round(time.Microsecond).String()
			}
			out = append(out, pr)
		}
		return out, nil
	}))
	s.Handle("POST "+PathConnect, api.JSONHandler(func(ctx context.Context, a ConnectArgs) (IDResult, error) {
		if err := need(); err != nil {
			return IDResult{}, err
		}
		ai, err := peer.AddrInfoFromString(a.Addr)
		if err != nil {
			return IDResult{}, fmt.Errorf("%w: %q is not a multiaddr ending in /p2p/<peer ID>: %v", api.ErrBadRequest, a.Addr, err)
		}
		if err := d.net.Connect(ctx, *ai); err != nil {
			return IDResult{}, err
		}
		return IDResult{ID: ai.ID.String(), Addrs: addrStrings(ai.Addrs)}, nil
	}))
	s.Handle("POST "+PathProvide, api.JSONHandler(func(ctx context.Context, a PathArgs) (ResolveResult, error) {
		if err := need(); err != nil {
			return ResolveResult{}, err
		}
		c, err := n.Resolve(ctx, a.Path)
		if err != nil {
			return ResolveResult{}, err
		}
		// Announcing what we cannot serve would send peers to a hole.
		if ok, err := n.store.Has(ctx, c); err != nil {
			return ResolveResult{}, err
		} else if !ok {
			return ResolveResult{}, fmt.Errorf("provide: %w", block.NotFound(c))
		}
		err = d.net.Provide(ctx, c)
		d.metrics.provided(err)
		return ResolveResult{Cid: c.String()}, err
	}))
	s.Handle("POST "+PathFindProvs, api.EventHandler(func(ctx context.Context, a FindProvsArgs, _ io.Reader, emit func(any) error) (FindProvsResult, error) {
		if err := need(); err != nil {
			return FindProvsResult{}, err
		}
		c, err := ParseCID(a.Cid)
		if err != nil {
			return FindProvsResult{}, err
		}
		d.metrics.findProviders.Inc()
		timeout, num := time.Duration(a.Timeout), a.Num
		if timeout <= 0 {
			timeout = DefaultFindProvsTimeout
		}
		if num <= 0 {
			num = DefaultFindProvsNum
		}
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		found := 0
		for p := range d.net.FindProviders(ctx, c, num) {
			found++
			if err := emit(ProviderEvent{ID: p.ID.String(), Addrs: addrStrings(p.Addrs)}); err != nil {
				return FindProvsResult{Found: found}, err
			}
		}
		// The timeout is how a lookup ends when fewer than Num providers
		// exist; it is not an error, but the caller's own cancel is.
		if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return FindProvsResult{Found: found}, err
		}
		return FindProvsResult{Found: found}, nil
	}))
	s.Handle("POST "+PathStats, api.JSONHandler(func(ctx context.Context, _ struct{}) (StatsResult, error) {
		if err := need(); err != nil {
			return StatsResult{}, err
		}
		rs, err := n.RepoStat(ctx)
		if err != nil {
			return StatsResult{}, err
		}
		ns := d.net.Stats()
		return StatsResult{
			PeerID: d.net.ID().String(), Peers: ns.Peers, RoutingTable: ns.RoutingTable,
			TotalIn: ns.TotalIn, TotalOut: ns.TotalOut, RateIn: ns.RateIn, RateOut: ns.RateOut,
			Blocks: rs.Blocks, RepoBytes: rs.Bytes, DiskBytes: rs.DiskBytes, Pins: rs.Pins,
		}, nil
	}))
}

func addrStrings(as []ma.Multiaddr) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}
