package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/trove-p2p/trove/blockstore"
	"github.com/trove-p2p/trove/fuse"
	"github.com/trove-p2p/trove/node/api"
	"github.com/trove-p2p/trove/node/p2p"
	"github.com/trove-p2p/trove/node/repo"
	"github.com/trove-p2p/trove/transfer"
)

// DaemonOptions overrides the repo config for one daemon run, the way the
// `trove daemon` flags do. The zero value runs exactly what the config says.
type DaemonOptions struct {
	// ListenAddrs replace Swarm.ListenAddrs when non-empty.
	ListenAddrs []string
	// AnnounceAddrs replace Swarm.AnnounceAddrs when non-empty.
	AnnounceAddrs []string
	// Bootstrap peers are dialled in addition to DHT.Bootstrap.
	Bootstrap []string
	// DHTMode replaces DHT.Mode when non-empty.
	DHTMode string
	// NoMDNS turns mDNS off whatever the config says.
	NoMDNS bool
	// APIAddr replaces API.TCPAddr when non-empty.
	APIAddr string
	// Verify re-hashes every block read, as Options.Verify.
	Verify bool
	// ShutdownTimeout bounds the API's wait for in-flight requests on
	// Close. Zero means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Logger receives the daemon's logs. Nil discards them.
	Logger *slog.Logger
	// Transfer overrides the config's bandwidth limits.
	Transfer TransferOptions
	// Mount is a directory to mount the content on for the daemon's
	// lifetime (docs/fuse.md); empty means the config's Mount.Dir. A
	// mount that fails is logged and the daemon runs on.
	Mount string
	// Gateway replaces Gateway.ListenAddr when non-empty; port 0 picks
	// a free port (GatewayURL reports it).
	Gateway string
	// NoGateway runs without the HTTP gateway whatever the config says.
	NoGateway bool
	// GatewayOffline makes the gateway serve local content only.
	GatewayOffline bool
}

// withDefaults returns o with its zero fields at their documented
// defaults.
func (o DaemonOptions) withDefaults() DaemonOptions {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	return o
}

// DefaultShutdownTimeout is how long Close lets API requests finish before
// cutting them. It is short because a signal usually means the operator
// wants the process gone; interrupted adds pin nothing and lose nothing.
const DefaultShutdownTimeout = 5 * time.Second

// provideTimeout bounds one announcement started by add or pin.
const provideTimeout = time.Minute

// ErrNoNetwork means a network operation reached a node that runs offline.
var ErrNoNetwork = errors.New("this operation needs the daemon (start one with `trove daemon`)")

// Daemon is the composition root: the offline node, the libp2p host and
// the local API, wired together and shut down in reverse order.
type Daemon struct {
	node    *Node
	net     *p2p.Node
	api     *api.Server
	reg     *prometheus.Registry
	metrics *daemonMetrics
	log     *slog.Logger
	gw      *gatewayServer // nil when the gateway is off
	// stops are the running FetchTo requests a client may stop by ID.
	stops stopList

	// ctx scopes background announcements; Close cancels it and waits
	// for them so no goroutine touches the store after it is closed.
	ctx      context.Context
	cancel   context.CancelFunc
	provides sync.WaitGroup
	// handlers counts API handlers still running. http.Server's forced
	// close does not wait for them, and the store must outlive them.
	handlers sync.WaitGroup
	mu       sync.Mutex
	closing  bool

	closeOnce sync.Once
	closeErr  error

	// mounts are the live FUSE mounts, unmounted first on Close;
	// unmounting says Close has begun that (under mu).
	mounts     map[*fuse.Mountpoint]struct{}
	unmounting bool
}

// StartDaemon opens the repo, starts the p2p host and the API, and returns
// once all three serve. A repo another process holds fails with an error
// wrapping blockstore.ErrLocked (or api.ErrDaemonRunning) before any
// network port is opened.
func StartDaemon(ctx context.Context, repoPath string, o DaemonOptions) (_ *Daemon, err error) {
	o = o.withDefaults()
	log := o.Logger
	n, err := Open(ctx, repoPath, Options{Verify: o.Verify, Logger: log.With("component", "blockstore")})
	if err != nil {
		// blockstore.ErrLocked already names the repo and asks whether a
		// daemon runs; another hint here printed the question twice.
		return nil, err
	}
	d := &Daemon{node: n, reg: prometheus.NewRegistry(), log: log, mounts: map[*fuse.Mountpoint]struct{}{}}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	if d.metrics, err = newDaemonMetrics(d.reg); err != nil {
		return nil, err
	}
	po, err := d.p2pOptions(o)
	if err != nil {
		return nil, err
	}
	if d.net, err = p2p.New(ctx, po); err != nil {
		return nil, err
	}
	tcp := n.repo.Config.API.TCPAddr
	if o.APIAddr != "" {
		tcp = o.APIAddr
	}
	d.api, err = api.NewServer(api.Options{
		RepoPath: n.repo.Path, TCPAddr: tcp, Metrics: d.reg, Kinds: Kinds(),
		Logger: log.With("component", "api"), ShutdownTimeout: o.ShutdownTimeout,
	})
	if err != nil {
		return nil, err
	}
	if err := d.startTransfer(o.Transfer); err != nil {
		return nil, err
	}
	// From here the node's own operations announce and count, however
	// they are called.
	n.announcer, n.metrics = d, d.metrics
	d.routes()
	if err := d.startGateway(o); err != nil {
		return nil, err
	}
	if err := d.api.Start(); err != nil {
		return nil, err
	}
	d.startMount(o.Mount)
	log.Info("daemon ready", "peer", d.net.ID().String(), "api", d.api.Addrs())
	return d, nil
}

func (d *Daemon) p2pOptions(o DaemonOptions) (p2p.Options, error) {
	cfg := d.node.repo.Config
	po := p2p.Options{
		Identity:     d.node.repo.Key,
		DHTMode:      cfg.DHT.Mode,
		PrivateAddrs: cfg.Swarm.PrivateAddrs,
		MDNS:         cfg.Swarm.MDNS && !o.NoMDNS,
		NAT:          cfg.Swarm.NAT,
		AutoNAT:      cfg.Swarm.AutoNAT,
		HolePunching: cfg.Swarm.HolePunching,
		RelayClient:  cfg.Swarm.RelayClient,
		ConnMgrLow:   cfg.Swarm.ConnMgr.Low,
		ConnMgrHigh:  cfg.Swarm.ConnMgr.High,
		// What peers may make this daemon hold (docs/config.md).
		ResourceMemory:    cfg.Swarm.ResourceMgr.MaxMemory,
		MaxConns:          cfg.Swarm.ResourceMgr.MaxConns,
		MaxStreamsPerPeer: cfg.Swarm.ResourceMgr.MaxStreamsPerPeer,
		ProtocolLimits:    map[protocol.ID]p2p.ProtocolLimit{transfer.ProtocolID: transferLimit(cfg.Swarm.ResourceMgr)},
		// Saved peers let a restarted daemon rejoin without bootstrap
		// peers; the file lives in the repo so it moves with it.
		PeerstorePath: d.node.repo.PeersPath(),
		Roots:         d.node.provideRoots,
		Registerer:    d.reg,
		Logger:        d.log.With("component", "p2p"),
	}
	if o.DHTMode != "" {
		po.DHTMode = o.DHTMode
	}
	listen := cfg.Swarm.ListenAddrs
	if len(o.ListenAddrs) > 0 {
		listen = o.ListenAddrs
	}
	for _, s := range listen {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return po, fmt.Errorf("listen address %q: %w", s, err)
		}
		po.ListenAddrs = append(po.ListenAddrs, a)
	}
	announce := cfg.Swarm.AnnounceAddrs
	if len(o.AnnounceAddrs) > 0 {
		announce = o.AnnounceAddrs
	}
	for _, f := range []struct {
		from []string
		to   *[]ma.Multiaddr
	}{{announce, &po.AnnounceAddrs}, {cfg.Swarm.AppendAnnounceAddrs, &po.AppendAnnounceAddrs}} {
		for _, s := range f.from {
			if err := repo.CheckAnnounceAddr(s); err != nil {
				return po, fmt.Errorf("announce address %w", err)
			}
			*f.to = append(*f.to, ma.StringCast(s))
		}
	}
	var boot []ma.Multiaddr
	for _, s := range append(append([]string(nil), cfg.DHT.Bootstrap...), o.Bootstrap...) {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return po, fmt.Errorf("bootstrap address %q: %w", s, err)
		}
		boot = append(boot, a)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(boot...)
	if err != nil {
		return po, fmt.Errorf("bootstrap addresses must end in /p2p/<peer ID>: %w", err)
	}
	po.Bootstrap = infos
	iv, err := cfg.Provide.Reprovide()
	if err != nil {
		return po, err
	}
	po.ReprovideInterval = iv
	key, err := os.ReadFile(d.node.repo.SwarmKeyPath())
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return po, fmt.Errorf("swarm key: %w", err)
	default:
		if po.SwarmKey, err = p2p.DecodeSwarmKey(strings.NewReader(string(key))); err != nil {
			return po, fmt.Errorf("%s: %w", d.node.repo.SwarmKeyPath(), err)
		}
	}
	return po, nil
}

// provideRoots lists what a reprovide round announces: the recursively
// pinned roots, i.e. the DAGs this node promises to serve in full. Direct
// and partial pins are left out, since a peer asking for their children
// would find them missing.
func (n *Node) provideRoots(ctx context.Context) ([]cid.Cid, error) {
	pins, err := n.store.Pins(ctx)
	if err != nil {
		return nil, err
	}
	var out []cid.Cid
	for _, p := range pins {
		if p.Kind == blockstore.PinRecursive {
			out = append(out, p.Cid)
		}
	}
	return out, nil
}

// Node is the daemon's offline node.
func (d *Daemon) Node() *Node { return d.node }

// P2P is the daemon's libp2p host.
func (d *Daemon) P2P() *p2p.Node { return d.net }

// APIAddrs are the API's listening addresses as written to <repo>/api.
func (d *Daemon) APIAddrs() []string { return d.api.Addrs() }

// ReadyLine is the one line `trove daemon` prints on stdout once it serves:
// space-separated key=value fields, lists comma-separated, so scripts and
// tests can wait for it and parse it (docs/cli.md).
func (d *Daemon) ReadyLine() string {
	var listen []string
	// The sockets, not what is announced: scripts point proxies and
	// port forwards here, and announced addresses are in `trove id`.
	for _, a := range d.net.ListenAddrs() {
		listen = append(listen, a.String())
	}
	line := fmt.Sprintf("trove daemon ready peer=%s listen=%s api=%s",
		d.net.ID(), strings.Join(listen, ","), strings.Join(d.api.Addrs(), ","))
	if u := d.GatewayURL(); u != "" {
		line += " gateway=" + u
	}
	return line
}

// track keeps the store open until h returns, and refuses requests that
// arrive once closing started.
func (d *Daemon) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.mu.Lock()
		if d.closing {
			d.mu.Unlock()
			api.WriteError(w, r, fmt.Errorf("daemon is stopping: %w", context.Canceled))
			return
		}
		d.handlers.Add(1)
		d.mu.Unlock()
		defer d.handlers.Done()
		h.ServeHTTP(w, r)
	})
}

// StopRequested is closed when a client asked the daemon to stop.
func (d *Daemon) StopRequested() <-chan struct{} { return d.api.StopRequested() }

// Announce announces c in the background: the daemon is its node's
// Announcer. It is started before the add or pin that triggers it returns,
// so by the time a user sees "added" the announcement is under way; its
// outcome is only logged, because the data is safely stored either way and
// the next reprovide round retries.
func (d *Daemon) Announce(c cid.Cid) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.net == nil || d.closing {
		return
	}
	d.provides.Add(1)
	go func() {
		defer d.provides.Done()
		ctx, cancel := context.WithTimeout(d.ctx, provideTimeout)
		defer cancel()
		err := d.net.Provide(ctx, c)
		d.metrics.provided(err)
		if err != nil && d.ctx.Err() == nil {
			d.log.Warn("announce failed; the next reprovide round retries", "cid", c.String(), "err", err)
			return
		}
		d.log.Debug("announced", "cid", c.String())
	}()
}

// Close stops the daemon in the reverse order of start: the API first (no
// new work arrives; in-flight requests get ShutdownTimeout), then pending
// announcements, then the p2p host (which saves known peers), and last the
// block store, flushed and unlocked.
func (d *Daemon) Close() error {
	d.closeOnce.Do(func() {
		var errs []error
		// Mounts first: they read through everything below, and their
		// API requests end (and answer) once they are gone.
		d.unmountAll()
		if d.api != nil {
			errs = append(errs, d.api.Close())
		}
		d.stopGateway()
		d.mu.Lock()
		d.closing = true
		d.mu.Unlock()
		d.cancel()
		d.provides.Wait()
		// The API cancelled the handlers' contexts; they return promptly,
		// and must before the store closes under them.
		d.handlers.Wait()
		d.stopTransfer()
		if d.net != nil {
			errs = append(errs, d.net.Close())
		}
		errs = append(errs, d.node.Close())
		d.closeErr = errors.Join(errs...)
	})
	return d.closeErr
}

// Defaults of the transfer protocol's resource limits (repo.ResourceMgr).
const (
	DefaultTransferStreams        = 64
	DefaultTransferStreamsPerPeer = 8
	DefaultTransferMemory         = 64 << 20
)

// transferLimit turns the config's transfer caps into resource-manager
// limits on /trove/transfer/1.0.0.
func transferLimit(r repo.ResourceMgr) p2p.ProtocolLimit {
	l := p2p.ProtocolLimit{
		Streams:        cmp.Or(r.TransferStreams, DefaultTransferStreams),
		StreamsPerPeer: cmp.Or(r.TransferStreamsPerPeer, DefaultTransferStreamsPerPeer),
		Memory:         cmp.Or(r.TransferMemory, DefaultTransferMemory),
	}
	// One peer may hold half of the whole (32 MiB by default), and at
	// least one stream. What a peer can make us hold is bounded below
	// that anyway: the server serves at most four streams per peer (8.1
	// MiB of block buffers), so no peer can lock the others out. The rest
	// is for our own fetch session to that peer, whose window (16 MiB,
	// reserved at medium priority, i.e. while the scope stays under 60%)
	// needs more than 26.7 MiB of limit: at a quarter (16 MiB) it got
	// 8 MiB, which caps a far peer at 8 MiB per round trip.
	l.MemoryPerPeer = max(l.Memory/2, transfer.StreamMemory)
	return l
}
