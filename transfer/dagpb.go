package transfer

import (
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"google.golang.org/protobuf/encoding/protowire"
)

// node is what the transfer layer needs to know about a dag-pb block: the
// children it names, in order, and (for UnixFS files) how many file bytes
// each child covers, so a byte range can skip whole subtrees.
//
// This is a deliberately tiny reader of the dag-pb wire format (PBNode
// field 2 = links, field 1 = data; PBLink field 1 = hash; UnixFS Data
// field 3 = filesize, field 4 = blocksizes). It lives here so that the
// protocol does not depend on the full UnixFS codec; it decodes only what
// scheduling needs and treats everything else as opaque.
type node struct {
	Links      []cid.Cid
	BlockSizes []uint64 // UnixFS blocksizes; nil if absent
	FileSize   uint64   // UnixFS filesize; 0 if absent
}

var errDagPB = errors.New("malformed dag-pb")

// decodeNode parses a dag-pb block. It never allocates more than the
// input length justifies.
func decodeNode(b []byte) (node, error) {
	var n node
	var data []byte
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return n, fmt.Errorf("%w: tag", errDagPB)
		}
		b = b[l:]
		if typ != protowire.BytesType {
			l = protowire.ConsumeFieldValue(num, typ, b)
			if l < 0 {
				return n, fmt.Errorf("%w: field %d", errDagPB, num)
			}
			b = b[l:]
			continue
		}
		v, l := protowire.ConsumeBytes(b)
		if l < 0 {
			return n, fmt.Errorf("%w: field %d length", errDagPB, num)
		}
		b = b[l:]
		switch num {
		case 1:
			data = v
		case 2:
			c, err := decodeLink(v)
			if err != nil {
				return n, err
			}
			n.Links = append(n.Links, c)
		}
	}
	if data != nil {
		if err := decodeUnixFS(data, &n); err != nil {
			return n, err
		}
	}
	return n, nil
}

func decodeLink(b []byte) (cid.Cid, error) {
	var c cid.Cid
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return c, fmt.Errorf("%w: link tag", errDagPB)
		}
		b = b[l:]
		if num == 1 && typ == protowire.BytesType {
			v, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return c, fmt.Errorf("%w: link hash", errDagPB)
			}
			b = b[l:]
			var err error
			if c, err = cid.Cast(v); err != nil {
				return c, fmt.Errorf("%w: link hash: %w", errDagPB, err)
			}
			continue
		}
		l = protowire.ConsumeFieldValue(num, typ, b)
		if l < 0 {
			return c, fmt.Errorf("%w: link field %d", errDagPB, num)
		}
		b = b[l:]
	}
	if !c.Defined() {
		return c, fmt.Errorf("%w: link without hash", errDagPB)
	}
	return c, nil
}

// decodeUnixFS reads filesize and blocksizes; anything that is not UnixFS
// (opaque data) just leaves them zero, since the transfer layer only uses
// them as hints.
func decodeUnixFS(b []byte, n *node) error {
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return nil
		}
		b = b[l:]
		switch {
		case num == 3 && typ == protowire.VarintType:
			v, l := protowire.ConsumeVarint(b)
			if l < 0 {
				return nil
			}
			n.FileSize, b = v, b[l:]
		case num == 4 && typ == protowire.VarintType:
			v, l := protowire.ConsumeVarint(b)
			if l < 0 {
				return nil
			}
			n.BlockSizes, b = append(n.BlockSizes, v), b[l:]
		case num == 4 && typ == protowire.BytesType: // packed encoding
			v, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return nil
			}
			b = b[l:]
			for len(v) > 0 {
				x, k := protowire.ConsumeVarint(v)
				if k < 0 {
					return nil
				}
				n.BlockSizes, v = append(n.BlockSizes, x), v[k:]
			}
		default:
			l = protowire.ConsumeFieldValue(num, typ, b)
			if l < 0 {
				return nil
			}
			b = b[l:]
		}
	}
	return nil
}
