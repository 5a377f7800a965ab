package car

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"github.com/multiformats/go-varint"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/ipld"
)

// Limits on untrusted lengths. Each is checked before the length is used
// to allocate.
const (
	// maxHeaderSize bounds the dag-cbor header. A root is under 100
	// bytes, so this leaves room for thousands of roots while keeping a
	// bogus length from costing more than a block.
	maxHeaderSize = 1 << 20
	// maxCIDSize bounds a section's CID. Trove's CIDs are 34-36 bytes;
	// the slack admits foreign multihash encodings so they fail with a
	// clear "unsupported" rather than "too large".
	maxCIDSize = 128
	// maxSectionSize is the largest section a valid archive for trove
	// can contain: one CID and one block.
	maxSectionSize = block.MaxSize + maxCIDSize
)

// Reader reads a CAR v1 stream section by section, verifying each block.
type Reader struct {
	br    *bufio.Reader
	roots []cid.Cid
	off   int64 // stream offset of the next section
}

// NewReader reads and checks the header. It does not read ahead past the
// header more than its buffer does, so r can be a network stream.
func NewReader(r io.Reader) (*Reader, error) {
	cr := &Reader{br: bufio.NewReaderSize(r, 64<<10)}
	n, err := varint.ReadUvarint(cr.br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, malformed("empty input, no header")
		}
		return nil, fmt.Errorf("%w: header length: %w", ErrMalformed, err)
	}
	if n == 0 || n > maxHeaderSize {
		return nil, malformed("header length %d outside 1..%d", n, maxHeaderSize)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(cr.br, buf); err != nil {
		return nil, fmt.Errorf("%w: header: %w", ErrMalformed, unexpected(err))
	}
	h, err := decodeHeader(buf)
	if err != nil {
		return nil, err
	}
	cr.roots = h.roots
	cr.off = int64(varint.UvarintSize(n)) + int64(n)
	return cr, nil
}

// unexpected turns a bare EOF inside a structure into ErrUnexpectedEOF, so
// that a truncated archive is never mistaken for a finished one.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// Roots returns the root CIDs named by the header.
func (r *Reader) Roots() []cid.Cid { return r.roots }

// Next returns the next block, verified against its CID. It returns io.EOF
// (unwrapped) at a clean end of the archive. Any other error names the
// section's byte offset, and the CID once it is known; blocks whose codec is
// not one trove knows (ipld.Known) fail with block.ErrUnsupported, blocks whose bytes do not
// match with block.ErrCorrupt.
//
// The returned slice is freshly allocated and owned by the caller.
func (r *Reader) Next() (cid.Cid, []byte, error) {
	start := r.off
	n, err := varint.ReadUvarint(r.br)
	if err == io.EOF {
		return cid.Undef, nil, io.EOF
	}
	if err != nil {
		return cid.Undef, nil, fmt.Errorf("%w: section at offset %d: length: %w", ErrMalformed, start, err)
	}
	if n == 0 || n > maxSectionSize {
		return cid.Undef, nil, malformed("section at offset %d: length %d outside 1..%d", start, n, maxSectionSize)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r.br, buf); err != nil {
		return cid.Undef, nil, fmt.Errorf("%w: section at offset %d: %w", ErrMalformed, start, unexpected(err))
	}
	r.off += int64(varint.UvarintSize(n)) + int64(n)

	cl, c, err := cid.CidFromBytes(buf)
	if err != nil {
		return cid.Undef, nil, fmt.Errorf("%w: section at offset %d: CID: %w", ErrMalformed, start, err)
	}
	if cl > maxCIDSize {
		return cid.Undef, nil, malformed("section at offset %d: CID of %d bytes", start, cl)
	}
	data := buf[cl:]
	if codec := c.Type(); !ipld.Known(codec) {
		return c, nil, fmt.Errorf("section at offset %d: block %s: codec 0x%x: %w", start, c, codec, block.ErrUnsupported)
	}
	if c.Prefix().MhType == mh.IDENTITY {
		// The data is in the CID; the section only has to agree with it.
		d, err := mh.Decode(c.Hash())
		if err != nil || !bytes.Equal(d.Digest, data) {
			return c, nil, fmt.Errorf("section at offset %d: %s: %w", start, c, block.ErrCorrupt)
		}
		return c, data, nil
	}
	if err := block.Verify(c, data); err != nil {
		return c, nil, fmt.Errorf("section at offset %d: %w", start, err)
	}
	return c, data, nil
}

// Import reads a whole CAR v1 stream into put, verifying every block, and
// returns the header's roots and the number of blocks stored (duplicates in
// the archive are stored, and counted, each time they appear).
//
// It stops at the first bad section: blocks before it have been stored. A
// truncated archive is an error, never a short success. Import does not
// check that the roots or the DAG are complete; that is a graph question
// for the caller (a CAR may legitimately carry a partial DAG).
func Import(ctx context.Context, r io.Reader, put block.Putter) (roots []cid.Cid, blocks int, err error) {
	cr, err := NewReader(r)
	if err != nil {
		return nil, 0, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return cr.roots, blocks, err
		}
		c, data, err := cr.Next()
		if err == io.EOF {
			return cr.roots, blocks, nil
		}
		if err != nil {
			return cr.roots, blocks, err
		}
		if c.Prefix().MhType == mh.IDENTITY {
			// Identity blocks live in their CIDs and are never stored.
			continue
		}
		if err := put.Put(ctx, c, data); err != nil {
			return cr.roots, blocks, fmt.Errorf("car import: store %s: %w", c, err)
		}
		blocks++
	}
}
