// Package node is trove's offline node: one opened repo plus its block
// store, and every user operation as a method.
//
// The CLI and the local HTTP API both drive a *Node, so methods take plain
// option structs, return JSON-serializable results and move data as
// io.Reader / io.Writer: nothing here prints, parses flags or knows whether
// the caller is a terminal or a socket. Errors keep their kind (errors.Is
// with block.ErrNotFound, blockstore.ErrLocked, ErrBadCID, os.ErrNotExist,
// os.ErrPermission) so each front end maps them in one place.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/blockstore"
	"github.com/trove-p2p/trove/node/repo"
)

// ErrBadCID matches every CID that does not parse, including go-cid's own
// errors (they are all cid.ErrInvalidCid, whose Is matches by type), so
// callers need only one errors.Is test.
var ErrBadCID error = cid.ErrInvalidCid{Err: errors.New("malformed CID")}

// Options configures Open. The zero value opens (or creates) the repo with
// the config's settings and logs nothing.
type Options struct {
	// Verify re-hashes every block read from the store. It is OR-ed with
	// the config's Datastore.VerifyOnRead: a flag can turn checking on for
	// one run, never off against the owner's config.
	Verify bool
	// NoInit makes Open fail with repo.ErrNotInitialized instead of
	// creating a missing repo.
	NoInit bool
	// Logger receives store diagnostics. Nil discards them.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// Node is an opened repo. It is safe for concurrent use; Close it to
// release the store lock.
type Node struct {
	repo  *repo.Repo
	store *blockstore.Store
	// get is the read path: the store itself, or the verifying decorator
	// when Verify is on. Every read goes through it so --verify cannot be
	// bypassed by one forgotten call site.
	get    block.Getter
	verify bool
	log    *slog.Logger
	// xfer is block exchange with peers; nil offline. Set once by the
	// daemon before it serves, read-only afterwards, as are the two below.
	xfer *transferState
	// announcer announces what this node now serves in full; nil offline.
	announcer Announcer
	// metrics counts operations for the daemon's registry; nil offline.
	metrics *daemonMetrics
}

// Announcer tells the network that this node serves a DAG in full. The
// daemon is one (a background DHT provide); an offline node has none and
// announces nothing.
type Announcer interface {
	Announce(c cid.Cid)
}

// announce announces each root (CID strings, as results carry them). It
// is the node's policy, not the API's: an in-process caller announces
// exactly as the CLI through the daemon does.
func (n *Node) announce(roots []string) {
	if n.announcer == nil {
		return
	}
	for _, root := range roots {
		if c, err := ParseCID(root); err == nil {
			n.announcer.Announce(c)
		}
	}
}

// Open opens the repo at repoPath (creating it unless o.NoInit) and its
// block store. A store held by another process fails with an error wrapping
// blockstore.ErrLocked.
func Open(ctx context.Context, repoPath string, o Options) (*Node, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var (
		r   *repo.Repo
		err error
	)
	if o.NoInit {
		r, err = repo.Open(repoPath)
	} else {
		r, err = repo.OpenOrInit(repoPath)
	}
	if err != nil {
		return nil, err
	}
	o = o.withDefaults()
	log := o.Logger
	verify := o.Verify || r.Config.Datastore.VerifyOnRead
	s, err := blockstore.Open(r.BlocksPath(), blockstore.Options{Verify: verify, CheckReads: true, Logger: log, MinFreeSpace: r.Config.Datastore.MinFreeSpace})
	if err != nil {
		return nil, fmt.Errorf("open block store in %s: %w", r.Path, err)
	}
	return &Node{repo: r, store: s, get: s, verify: verify, log: log}, nil
}

// Close releases the store and its lock.
func (n *Node) Close() error { return n.store.Close() }

// Repo exposes the repo (config, identity) for the layers built on the
// node, such as the p2p host.
func (n *Node) Repo() *repo.Repo { return n.repo }

// Blockstore exposes the store for the network layers that serve and fetch
// blocks; user operations should go through Node methods.
func (n *Node) Blockstore() *blockstore.Store { return n.store }

// ParseCID parses a CID string, wrapping failures so errors.Is(err,
// ErrBadCID) holds.
func ParseCID(s string) (cid.Cid, error) {
	c, err := cid.Decode(s)
	if err != nil {
		var ic cid.ErrInvalidCid
		if errors.As(err, &ic) {
			return cid.Undef, fmt.Errorf("%q: %w", s, err)
		}
		return cid.Undef, fmt.Errorf("%q: %w", s, cid.ErrInvalidCid{Err: err})
	}
	return c, nil
}
