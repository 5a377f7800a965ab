package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/trove-p2p/trove/node"
)

// printPeers writes `trove peers`: ID, first address, latency, and for a
// banned peer when the ban ends and why, so a liar the fetcher refuses
// is visible where the user looks for peers, not only in stats.
func printPeers(w io.Writer, ps []node.PeerResult) error {
	tw := tabwriter.NewWriter(w, 0, 4, 1, ' ', 0)
	for _, p := range ps {
		addr, lat := "", p.Latency
		if len(p.Addrs) > 0 {
			addr = p.Addrs[0]
		}
		if lat == "" {
			lat = "-"
		}
		if p.Banned == nil {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", p.ID, addr, lat)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\tbanned until %s: %s\n", p.ID, addr, lat, p.Banned.UTC().Format(time.RFC3339), p.BanReason)
	}
	return tw.Flush()
}
