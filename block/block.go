package block

import (
	"context"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
)

// MaxSize is the largest block trove stores, serves or accepts from a peer.
// IPFS implementations agree on 2 MiB (1 MiB chunks plus dag-pb framing fit
// comfortably), and a hard cap keeps one hostile message from costing more.
const MaxSize = 2 << 20

// Multicodec and multihash codes trove understands.
const (
	CodecRaw    = 0x55
	CodecDagPB  = 0x70
	HashSHA256  = 0x12
	HashBLAKE3  = 0x1e
	HashSHA2Len = 32
)

var (
	// ErrNotFound means the block (or pin, or path) is not there. Callers
	// test it with errors.Is; wrappers add the CID.
	ErrNotFound = errors.New("not found")
	// ErrCorrupt means bytes did not hash to the CID that named them.
	ErrCorrupt = errors.New("block does not match its CID")
	// ErrTooLarge means a block exceeds MaxSize.
	ErrTooLarge = errors.New("block larger than 2 MiB")
	// ErrUnsupported means a CID uses a hash function or codec trove does
	// not implement.
	ErrUnsupported = errors.New("unsupported CID")
)

// Getter returns a block's bytes, or an error wrapping ErrNotFound. The
// returned slice belongs to the caller.
type Getter interface {
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
}

// Putter stores a block. Implementations may keep a reference to data
// until the write is durable, so callers must not modify it after Put.
// Callers that need verification wrap the data with Verify first: stores
// trust their input.
type Putter interface {
	Put(ctx context.Context, c cid.Cid, data []byte) error
}

// Haser reports whether a block is stored locally.
type Haser interface {
	Has(ctx context.Context, c cid.Cid) (bool, error)
}

// NotFound wraps ErrNotFound with the CID that was missing.
func NotFound(c cid.Cid) error {
	return fmt.Errorf("block %s: %w", c, ErrNotFound)
}
