package node

import (
	"context"
	"errors"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/unixfs"
)

// Resolve turns "CID[/sub/path]" (or "/ipfs/CID/...") into the CID it
// names. A malformed CID or path component matches ErrBadCID; a missing
// name matches block.ErrNotFound.
func (n *Node) Resolve(ctx context.Context, p string) (cid.Cid, error) {
	// One trailing slash is what shell completion of a directory leaves;
	// accept it rather than calling the path malformed.
	root, parts, err := unixfs.ParsePath(strings.TrimSuffix(p, "/"))
	if err != nil {
		if !errors.Is(err, ErrBadCID) {
			// Path syntax errors belong to the same user mistake as a
			// bad CID: the argument does not name anything.
			err = cid.ErrInvalidCid{Err: err}
		}
		return cid.Undef, err
	}
	if len(parts) == 0 {
		return root, nil
	}
	return unixfs.ResolveParts(ctx, n.blockwise(), root, parts)
}
