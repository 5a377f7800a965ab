package blockstore

import (
	"context"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
)

// NewVerifying wraps g so that every block it returns has been re-hashed
// with block.Verify. Use it where bytes leave trust boundaries (serving
// peers, "repo verify") when the store was opened without Options.Verify.
// A block that does not match gives an error wrapping block.ErrCorrupt that
// names the CID.
func NewVerifying(g block.Getter) block.Getter { return verifying{g} }

type verifying struct{ g block.Getter }

func (v verifying) Get(ctx context.Context, c cid.Cid) ([]byte, error) {
	data, err := v.g.Get(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := block.Verify(c, data); err != nil {
		return nil, err
	}
	return data, nil
}
