package main

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	multiaddr "github.com/multiformats/go-multiaddr"
	"github.com/spf13/cobra"
	"github.com/trove-p2p/trove/node"
	"github.com/trove-p2p/trove/node/repo"
	"github.com/trove-p2p/trove/transfer"
	"github.com/trove-p2p/trove/unixfs"
)

// badArg is a CID, CID path or ticket argument that does not parse. Its
// message is written here, once, in plain words: the errors below it
// (go-cid wraps its own errors twice, the path parser and the node add
// their prefixes) would otherwise print "invalid cid: invalid cid: ...".
// It matches node.ErrBadCID, so the exit code stays 3.
type badArg struct{ msg string }

func (b badArg) Error() string { return b.msg }
func (b badArg) Unwrap() error { return node.ErrBadCID }

// cidArgs checks that every argument is a CID path (tickets too when
// tickets is set) before the command opens the repo or dials the daemon,
// so a typo is reported the same way offline and through a daemon, and
// costs nothing.
func cidArgs(count cobra.PositionalArgs, tickets bool) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := count(cmd, args); err != nil {
			return err
		}
		for _, a := range args {
			if err := checkCIDArg(a, tickets); err != nil {
				return err
			}
		}
		return nil
	}
}

// checkCIDArg accepts exactly what node.Resolve accepts ("CID[/path]",
// "/ipfs/CID[/path]", one trailing slash) plus, when tickets is set,
// "trove://TICKET[/path]".
func checkCIDArg(arg string, tickets bool) error {
	p := arg
	if tickets && strings.HasPrefix(arg, transfer.TicketScheme) {
		tk, rest, _ := strings.Cut(strings.TrimPrefix(arg, transfer.TicketScheme), "/")
		c, _, err := transfer.DecodeTicket(transfer.TicketScheme + tk)
		if err != nil {
			return badArg{fmt.Sprintf("invalid ticket %q: %s", arg, reason(err))}
		}
		p = c.String()
		if rest != "" {
			p += "/" + rest
		}
	}
	if !tickets && strings.HasPrefix(arg, transfer.TicketScheme) {
		return badArg{fmt.Sprintf("%q is a ticket; this command takes a CID (trove get, cat and ls take tickets)", arg)}
	}
	p = strings.TrimSuffix(p, "/")
	if _, _, err := unixfs.ParsePath(p); err == nil {
		return nil
	}
	// ParsePath refused it; say which part is wrong.
	rest := p
	if strings.HasPrefix(rest, "/") {
		var ok bool
		if rest, ok = strings.CutPrefix(rest+"/", "/ipfs/"); !ok {
			return badArg{fmt.Sprintf("bad path %q: only CID/path and /ipfs/CID/path are understood", arg)}
		}
	}
	rest = strings.TrimSuffix(rest, "/")
	root, tail, hasTail := strings.Cut(rest, "/")
	if _, err := cid.Decode(root); err != nil {
		if root == "" {
			return badArg{fmt.Sprintf("no CID in %q", arg)}
		}
		return badArg{fmt.Sprintf("invalid CID %q: %s", root, reason(err))}
	}
	if hasTail {
		for _, name := range strings.Split(tail, "/") {
			if err := unixfs.CheckName(name); err != nil {
				return badArg{fmt.Sprintf("bad path %q: %s", arg, reason(err))}
			}
		}
	}
	return badArg{fmt.Sprintf("bad path %q", arg)}
}

// reason is the innermost explanation of a parse error, without the
// prefixes each layer adds ("invalid cid: ", "bad path: ", "malformed
// CID: ").
func reason(err error) string {
	for {
		var ic cid.ErrInvalidCid
		if !errors.As(err, &ic) || ic.Err == nil {
			break
		}
		err = ic.Err
	}
	s := err.Error()
	for _, p := range []string{unixfs.ErrBadPath.Error() + ": ", "invalid cid: ", "malformed CID: "} {
		for strings.HasPrefix(s, p) {
			s = strings.TrimPrefix(s, p)
		}
	}
	return s
}

// peerArg checks a connect argument before the daemon is asked, so the
// message is the CLI's own and not the API's "bad request: ..." echo.
func peerArg(count cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := count(cmd, args); err != nil {
			return err
		}
		for _, a := range args {
			if _, err := peer.AddrInfoFromString(a); err != nil {
				return usageError{fmt.Errorf("bad peer address %q: want a multiaddr ending in /p2p/<peer ID>, like /ip4/192.0.2.7/tcp/4801/p2p/12D3KooW... (%w)", a, err)}
			}
		}
		return nil
	}
}

// checkDaemonFlags refuses malformed daemon flag values as usage errors
// (exit 2, as docs/cli.md says of bad flags) before the repo is locked
// or the network started; the node would refuse them too, but as a
// generic failure (exit 1). Values from the config file are the node's
// to check.
func checkDaemonFlags(o node.DaemonOptions) error {
	for _, a := range o.ListenAddrs {
		if _, err := multiaddr.NewMultiaddr(a); err != nil {
			return usageError{fmt.Errorf("--listen %q: not a multiaddr like /ip4/0.0.0.0/tcp/4801 (%w)", a, err)}
		}
	}
	for _, a := range o.AnnounceAddrs {
		if err := repo.CheckAnnounceAddr(a); err != nil {
			return usageError{fmt.Errorf("--announce %w", err)}
		}
	}
	for _, a := range o.Bootstrap {
		if _, err := peer.AddrInfoFromString(a); err != nil {
			return usageError{fmt.Errorf("--bootstrap %q: want a multiaddr ending in /p2p/<peer ID> (%w)", a, err)}
		}
	}
	if o.Gateway != "" {
		if o.NoGateway {
			return usageError{fmt.Errorf("--gateway and --no-gateway contradict each other")}
		}
		if _, _, err := net.SplitHostPort(o.Gateway); err != nil {
			return usageError{fmt.Errorf("--gateway %q: want host:port like 127.0.0.1:8180 (%w)", o.Gateway, err)}
		}
	}
	switch o.DHTMode {
	case "", "auto", "server", "client":
	default:
		return usageError{fmt.Errorf("--dht-mode %q: want auto, server or client", o.DHTMode)}
	}
	if o.APIAddr != "" {
		if _, port, err := net.SplitHostPort(o.APIAddr); err != nil || port == "" {
			return usageError{fmt.Errorf("--api %q: want HOST:PORT, like 127.0.0.1:5801", o.APIAddr)}
		}
	}
	for _, r := range []struct{ flag, v string }{
		{"--max-upload", o.Transfer.MaxUpload},
		{"--max-upload-per-peer", o.Transfer.MaxUploadPerPeer},
		{"--max-download", o.Transfer.MaxDownload},
	} {
		if r.v == "" {
			continue
		}
		if _, err := node.ParseRate(r.v); err != nil {
			return usageError{fmt.Errorf("%s: %w", r.flag, err)}
		}
	}
	return nil
}

// checkPeerFlags refuses a malformed --peer of get, cat or ls the same
// way with or without a daemon. Without this, get through a daemon failed
// (exit 2), cat through it warned and went on, and offline it was ignored.
func checkPeerFlags(peers []string) error {
	for _, a := range peers {
		if _, err := peer.AddrInfoFromString(a); err != nil {
			return usageError{fmt.Errorf("--peer %q: want a multiaddr ending in /p2p/<peer ID> (%w)", a, err)}
		}
	}
	return nil
}
