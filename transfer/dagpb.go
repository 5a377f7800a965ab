package transfer

import (
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/unixfs/pb"
)

// node is what the transfer layer needs to know about a dag-pb block: the
// children it names, in order, and (for UnixFS files) how many file bytes
// each child covers, so a byte range can skip whole subtrees.
type node struct {
	Links      []cid.Cid
	BlockSizes []uint64 // UnixFS blocksizes; nil if absent
	FileSize   uint64   // UnixFS filesize; 0 if absent
	Tsizes     []uint64 // each link's Tsize; 0 where absent
}

var errDagPB = errors.New("malformed dag-pb")

// decodeNode parses a dag-pb block with the shared codec (unixfs/pb),
// which validates strictly. UnixFS metadata is optional: a dag-pb node
// whose Data is not UnixFS still has links to follow.
func decodeNode(b []byte) (node, error) {
	pn, err := pb.Unmarshal(b)
	if err != nil {
		return node{}, fmt.Errorf("%w: %w", errDagPB, err)
	}
	n := node{Links: make([]cid.Cid, 0, len(pn.Links)), Tsizes: make([]uint64, 0, len(pn.Links))}
	for _, l := range pn.Links {
		n.Links = append(n.Links, l.Cid)
		n.Tsizes = append(n.Tsizes, l.Tsize)
	}
	if pn.HasData {
		if fs, err := pb.UnmarshalFS(pn.Data); err == nil {
			n.FileSize, n.BlockSizes = fs.FileSize, fs.BlockSizes
		}
	}
	return n, nil
}
