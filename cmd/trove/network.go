package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
	"github.com/trove-p2p/trove/node"
)

// daemonStopBound is how long the daemon may take to stop after a signal
// before the command gives up waiting and fails: the API's grace period
// plus time to save peers and flush Badger.
const daemonStopBound = 15 * time.Second

func newDaemonCmd(e *env) *cobra.Command {
	var o node.DaemonOptions
	cmd := &cobra.Command{
		Use:   "daemon",
		Short: "Run the node: serve the repo to peers and to local commands",
		Long: `Run the trove node in the foreground: open the repo, join the network
(libp2p over TCP, the trove DHT, mDNS on the LAN) and serve the local API
that every other trove command uses while the daemon runs.

Once serving, it prints exactly one line on stdout:

  trove daemon ready peer=<peer ID> listen=<multiaddr,...> api=<addr,...> gateway=<url>

(gateway=... only while the HTTP gateway serves; see docs/gateway.md.)

listen= names the bound sockets; peers are told the addresses in trove id,
which --announce (config Swarm.AnnounceAddrs) replaces.

Logs go to stderr (info level unless --log-level is given). SIGINT or
SIGTERM stops it cleanly: the API first, then the network (known peers are
saved), then the block store. Exit status 0 after a clean stop; 7 if
another process holds the repo.`,
		Example: `  trove daemon
  trove daemon --listen /ip4/127.0.0.1/tcp/0 --no-mdns
  trove daemon --gateway 127.0.0.1:0 --gateway-offline
  trove daemon --bootstrap /ip4/192.0.2.7/tcp/4801/p2p/12D3KooW...
  trove daemon --announce /ip4/203.0.113.5/tcp/4801
  trove daemon --mount ~/trove`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkDaemonFlags(o); err != nil {
				return err
			}
			if !cmd.Flags().Changed("log-level") {
				e.logLevel = "info"
			}
			log, err := e.logger()
			if err != nil {
				return err
			}
			p, err := e.repoPath()
			if err != nil {
				return err
			}
			o.Verify, o.Logger = e.verify, log
			daemonGC()
			ctx := cmd.Context()
			d, err := node.StartDaemon(ctx, p, o)
			if err != nil {
				return err
			}
			fmt.Fprintln(e.stdout, d.ReadyLine())
			select {
			case <-ctx.Done():
				log.Info("signal received, stopping")
			case <-d.StopRequested():
			}
			done := make(chan error, 1)
			go func() { done <- d.Close() }()
			select {
			case err := <-done:
				if errors.Is(err, context.DeadlineExceeded) {
					// Requests still running after the grace period were
					// cut; their clients see the failure, nothing is lost.
					log.Warn("stopped with requests cut short", "err", err)
					err = nil
				}
				if err != nil {
					return fmt.Errorf("daemon stopped with errors: %w", err)
				}
				log.Info("daemon stopped")
				return nil
			case <-time.After(daemonStopBound):
				return fmt.Errorf("daemon did not stop within %v", daemonStopBound)
			}
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.ListenAddrs, "listen", nil, "multiaddr to listen on, repeatable (default from config Swarm.ListenAddrs)")
	f.StringArrayVar(&o.AnnounceAddrs, "announce", nil, "multiaddr to announce to peers instead of the ones found, repeatable, e.g. a port forward's /ip4/203.0.113.5/tcp/4801 (default from config Swarm.AnnounceAddrs)")
	f.StringArrayVar(&o.Bootstrap, "bootstrap", nil, "peer multiaddr ending in /p2p/ID to join through, repeatable (added to DHT.Bootstrap)")
	f.StringVar(&o.DHTMode, "dht-mode", "", "DHT mode: auto, server or client (default from config DHT.Mode)")
	f.BoolVar(&o.NoMDNS, "no-mdns", false, "do not discover or announce peers on the local network")
	f.StringVar(&o.APIAddr, "api", "", "also serve the API on this TCP host:port, token-protected (default from config API.TCPAddr)")
	f.StringVar(&o.Transfer.MaxUpload, "max-upload", "", "cap upload to all peers, e.g. 25MB/s; 0 = unlimited (default from config Transfer.MaxUpload)")
	f.StringVar(&o.Transfer.MaxUploadPerPeer, "max-upload-per-peer", "", "cap upload to each peer (default from config Transfer.MaxUploadPerPeer)")
	f.StringVar(&o.Gateway, "gateway", "", "serve the HTTP gateway on this host:port; port 0 picks one (default from config Gateway.ListenAddr, 127.0.0.1:8180)")
	f.BoolVar(&o.NoGateway, "no-gateway", false, "do not serve the HTTP gateway")
	f.BoolVar(&o.GatewayOffline, "gateway-offline", false, "the gateway serves local content only, never fetching (config Gateway.Offline)")
	f.StringVar(&o.Transfer.MaxDownload, "max-download", "", "cap download from all peers (default from config Transfer.MaxDownload)")
	f.StringVar(&o.Mount, "mount", "", "mount the content read-only on this empty directory while the daemon runs; a failed mount is logged, not fatal (default from config Mount.Dir; docs/fuse.md)")
	return cmd
}

func newIDCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "id",
		Short: "Show the daemon's peer ID and addresses",
		Long: `Print the running daemon's peer ID, then one address per line; each ends in
/p2p/<ID>, ready for another node's --bootstrap or trove connect. With
--json, the field Gateway is the HTTP gateway's URL (absent when it is off).`,
		Example: "  trove id\n  trove id --json",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.withDaemon(cmd, func(ctx context.Context, r *node.Remote) error {
				id, err := r.ID(ctx)
				if err != nil {
					return err
				}
				if e.json {
					return e.printJSON(id)
				}
				fmt.Fprintln(e.stdout, id.ID)
				for _, a := range id.Addrs {
					fmt.Fprintln(e.stdout, a)
				}
				return nil
			})
		},
	}
}

func newPeersCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "peers",
		Short:   "List connected peers",
		Long:    "List the peers the daemon has open connections to: peer ID, remote address, latency.",
		Example: "  trove peers\n  trove peers --json",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.withDaemon(cmd, func(ctx context.Context, r *node.Remote) error {
				ps, err := r.Peers(ctx)
				if err != nil {
					return err
				}
				if e.json {
					return e.printJSON(ps)
				}
				return printPeers(e.stdout, ps)
			})
		},
	}
}

func newConnectCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:     "connect MULTIADDR",
		Short:   "Connect to a peer",
		Long:    "Dial a peer given as a multiaddr ending in /p2p/<peer ID>.",
		Example: "  trove connect /ip4/192.0.2.7/tcp/4801/p2p/12D3KooW...",
		Args:    peerArg(exactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withDaemon(cmd, func(ctx context.Context, r *node.Remote) error {
				res, err := r.Connect(ctx, args[0])
				if err != nil {
					return err
				}
				if e.json {
					return e.printJSON(res)
				}
				fmt.Fprintf(e.stdout, "connected %s\n", res.ID)
				return nil
			})
		},
	}
}

func newRoutingCmd(e *env) *cobra.Command {
	rc := &cobra.Command{
		Use:     "routing",
		Short:   "Announce and find content on the DHT",
		Long:    "Content routing through the trove DHT. Added and pinned roots are announced automatically.",
		Example: "  trove routing findprovs bafybei...\n  trove routing provide bafybei...",
	}
	provide := &cobra.Command{
		Use:   "provide CID[/path]",
		Short: "Announce that this node serves a CID, and wait for it",
		Long: `Announce to the DHT that this node serves the CID and wait until the record
is stored. The block must be in the repo. add and pin do this on their own
(without waiting), and the daemon re-announces pinned roots every
Provide.ReprovideInterval.`,
		Example: "  trove routing provide bafybei...",
		Args:    cidArgs(exactArgs(1), false),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withDaemon(cmd, func(ctx context.Context, r *node.Remote) error {
				c, err := r.Provide(ctx, args[0])
				if err != nil {
					return err
				}
				if e.json {
					return e.printJSON(node.ResolveResult{Cid: c})
				}
				fmt.Fprintf(e.stdout, "provided %s\n", c)
				return nil
			})
		},
	}
	var timeout time.Duration
	var num int
	find := &cobra.Command{
		Use:   "findprovs CID",
		Short: "Find peers that serve a CID",
		Long: `Print the peer ID of every provider of CID, one per line, as the DHT finds
them (with --json: one JSON object per line with ID and Addrs). Stops
after --num providers or --timeout; finding none is not an error (a note
goes to stderr). This node is never listed, even when it has the content:
the command answers "who else has it".`,
		Example: "  trove routing findprovs bafybei...\n  trove routing findprovs --num 1 --timeout 5s bafybei...",
		Args:    cidArgs(exactArgs(1), false),
		RunE: func(cmd *cobra.Command, args []string) error {
			if timeout <= 0 || num < 0 {
				return usageError{errors.New("findprovs: --timeout must be positive and --num not negative")}
			}
			return e.withDaemon(cmd, func(ctx context.Context, r *node.Remote) error {
				enc := json.NewEncoder(e.stdout)
				start := time.Now()
				res, err := r.FindProviders(ctx, node.FindProvsArgs{Cid: args[0], Timeout: node.Duration(timeout), Num: num},
					func(p node.ProviderEvent) error {
						if e.json {
							return enc.Encode(p)
						}
						_, err := fmt.Fprintln(e.stdout, p.ID)
						return err
					})
				if err != nil {
					return err
				}
				if res.Found == 0 {
					// The DHT query usually ends well before --timeout (at
					// once with no other peers); "looked for up to 30s"
					// after 10 ms read as if nothing had been asked.
					searched := fmt.Sprintf("the search ended after %v", time.Since(start).Round(time.Millisecond))
					if time.Since(start) >= timeout {
						searched = fmt.Sprintf("looked for %v", timeout)
					}
					fmt.Fprintf(e.stderr, "no other peer provides %s (%s; this node is never listed)\n", args[0], searched)
				}
				return nil
			})
		},
	}
	find.Flags().DurationVar(&timeout, "timeout", node.DefaultFindProvsTimeout, "give up after this long")
	find.Flags().IntVarP(&num, "num", "n", node.DefaultFindProvsNum, "stop after this many providers")
	rc.AddCommand(provide, find)
	return rc
}

func newStatsCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "stats",
		Short: "Show network and repo figures",
		Long: `Show connected peers, DHT routing-table size, bytes in and out since start,
the repo's blocks, bytes and pins, the resource limits peers are held to
(used / limit), then the bandwidth limits in force, each download in
progress, the bytes served to each peer and the peers banned for lying.`,
		Example: "  trove stats\n  trove stats --json",
		Args:    exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.withDaemon(cmd, func(ctx context.Context, r *node.Remote) error {
				s, err := r.Stats(ctx)
				if err != nil {
					return err
				}
				ts, err := r.Transfers(ctx)
				if err != nil {
					return err
				}
				for i, d := range ts.Downloads {
					ts.Downloads[i] = saneETA(d)
				}
				if e.json {
					return e.printJSON(statsWithTransfers{s, ts})
				}
				fmt.Fprintf(e.stdout, "PeerID:       %s\nPeers:        %d\nRoutingTable: %d\nTotalIn:      %d\nTotalOut:     %d\nRateIn:       %.0f B/s\nRateOut:      %.0f B/s\nBlocks:       %d\nRepoBytes:    %d\nDiskBytes:    %d\nPins:         %d\n",
					s.PeerID, s.Peers, s.RoutingTable, s.TotalIn, s.TotalOut, s.RateIn, s.RateOut, s.Blocks, s.RepoBytes, s.DiskBytes, s.Pins)
				printResources(e, s.Resources)
				printTransfers(e, ts)
				return nil
			})
		},
	}
}

// printResources shows the resource-manager limits as "used / limit".
func printResources(e *env, r node.ResourceStats) {
	mib := func(b int64) string { return humanBytes(float64(b)) }
	fmt.Fprintf(e.stdout, "Conns:        %d / %d (%d inbound)\nStreams:      %d / %d (%d inbound per peer)\nMemory:       %s / %s\nTransfer:     %d / %d inbound streams (%d per peer), %s / %s memory (%s per peer)\n",
		r.ConnsUsed, r.Conns, r.ConnsInbound, r.StreamsUsed, r.Streams, r.StreamsPerPeer, mib(r.MemoryUsed), mib(r.Memory),
		r.TransferStreamsUsed, r.TransferStreams, r.TransferStreamsPerPeer, mib(r.TransferMemoryUsed), mib(r.TransferMemory), mib(r.TransferMemoryPerPeer))
}

// daemonGC makes the daemon's garbage collector run at half the default
// heap growth unless GOGC says otherwise. Downloads churn through
// megabyte buffers (Badger allocates one per value-log write), and with
// the default the heap, and so RSS, swings to twice what is live: a 1 GiB
// fetch grew the daemon by 80-130 MB. At 50 it stays near 50-65 MB, for
// about 2% more CPU in GC (docs/operations.md).
func daemonGC() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(50)
	}
}
