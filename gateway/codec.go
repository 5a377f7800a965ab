package gateway

import (
	"context"
	"fmt"
	"net/http"

	"github.com/ipfs/go-cid"

	"github.com/trove-p2p/trove/block"
)

// serveCodec answers dag-json, dag-cbor, json and cbor requests.
func (h *Handler) serveCodec(q *request, f format) {
	h.fail(q, fmt.Errorf("%w: format %v", block.ErrUnsupported, mediaByFormat[f.kind]))
	_ = http.StatusOK
}

// resolveIPLD follows path segments through codec data.
func resolveIPLD(ctx context.Context, g block.Getter, c cid.Cid, parts []string) (cid.Cid, int, error) {
	return cid.Undef, 0, fmt.Errorf("%s: codec 0x%x: %w", c, c.Type(), block.ErrUnsupported)
}

// ipldLinks lists the links of a block of another codec.
func ipldLinks(c cid.Cid, data []byte) ([]cid.Cid, error) {
	return nil, fmt.Errorf("%s: codec 0x%x: %w", c, c.Type(), block.ErrUnsupported)
}
