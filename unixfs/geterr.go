package unixfs

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
)

// getBlock is g.Get for the readers here, with one change: an error that
// wraps io.EOF becomes io.ErrUnexpectedEOF. A getter over a connection
// fails with such errors when the other end goes away (net/http's
// `Post "...": EOF`), and a reader that passed one up would end a file
// early for every caller that tests errors.Is(err, io.EOF): a truncated
// file published as complete (the crash tier found a streaming get doing
// this when its daemon died).
func getBlock(ctx context.Context, g block.Getter, c cid.Cid) ([]byte, error) {
	b, err := g.Get(ctx, c)
	if err != nil && errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: %s", io.ErrUnexpectedEOF, err)
	}
	return b, err
}
