package main

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"
	"github.com/trove-p2p/trove/node"
	"github.com/trove-p2p/trove/transfer"
)

// ShareResult is `trove share --json`.
type ShareResult struct {
	Cid    string `json:"Cid"`
	Ticket string `json:"Ticket"`
}

// ticketFor builds a ticket for c with the daemon's current addresses.
// Tickets need the daemon: only a running node knows the addresses it is
// reachable on (listen ports may be :0, NAT mappings change), and a ticket
// naming a node that is not running would fetch nothing.
func ticketFor(ctx context.Context, r identifier, c string) (string, error) {
	root, err := node.ParseCID(c)
	if err != nil {
		return "", err
	}
	id, err := r.ID(ctx)
	if err != nil {
		return "", err
	}
	pid, err := peer.Decode(id.ID)
	if err != nil {
		return "", err
	}
	ai := peer.AddrInfo{ID: pid}
	for _, s := range id.Addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			continue
		}
		// ID's addresses end in /p2p/<ID>; the ticket stores the ID once.
		if tr, _ := peer.SplitAddr(a); tr != nil {
			ai.Addrs = append(ai.Addrs, tr)
		}
	}
	return transfer.EncodeTicket(root, []peer.AddrInfo{ai})
}

func newShareCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "share CID[/path]",
		Short: "Print a trove:// ticket others can get the content with",
		Long: `Print a trove:// ticket holding the CID and this node's addresses.
Anyone with the ticket runs ` + "`trove get trove://...`" + ` and fetches straight
from this node, without a DHT lookup. The content must be in the repo, and
the daemon must be running (and stay running while others fetch).`,
		Example: "  trove share bafybei...\n  trove add --ticket photo.jpg",
		Args:    cidArgs(exactArgs(1), false),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withDaemon(cmd, func(ctx context.Context, r *node.Remote) error {
				c, err := r.Resolve(ctx, args[0])
				if err != nil {
					return err
				}
				// Sharing what we do not hold would send peers to a hole.
				if _, err := r.BlockStat(ctx, c.String()); err != nil {
					return fmt.Errorf("share: %w", err)
				}
				tk, err := ticketFor(ctx, r, c.String())
				if err != nil {
					return err
				}
				if e.json {
					return e.printJSON(ShareResult{Cid: c.String(), Ticket: tk})
				}
				fmt.Fprintln(e.stdout, tk)
				return nil
			})
		},
	}
}
