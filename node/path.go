package node

import (
	"context"

	"github.com/ipfs/go-cid"
)

// Resolve turns "CID[/sub/path]" (or "/ipfs/CID/...") into the CID it
// names, asking peers for missing blocks when the node has a network. A
// malformed CID or path component matches ErrBadCID; a missing name matches
// block.ErrNotFound.
func (n *Node) Resolve(ctx context.Context, p string) (cid.Cid, error) {
	return n.Content(Source{}).Resolve(ctx, p)
}
