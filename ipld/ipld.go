// Package ipld decodes and encodes the IPLD codecs other than dag-pb and
// raw that trove stores and serves (dag-cbor, dag-json, json, cbor), with
// go-ipld-prime, the codecs' reference implementation. It answers the two
// questions the rest of trove asks of such a block: what does it link to
// (GC, CAR export, completeness), and what value does it hold (gateway
// pathing and conversions).
package ipld

import (
	"bytes"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	"github.com/ipld/go-ipld-prime/codec"
	"github.com/ipld/go-ipld-prime/codec/cbor"
	"github.com/ipld/go-ipld-prime/codec/dagcbor"
	"github.com/ipld/go-ipld-prime/codec/dagjson"
	"github.com/ipld/go-ipld-prime/codec/json"
	"github.com/ipld/go-ipld-prime/datamodel"
	cidlink "github.com/ipld/go-ipld-prime/linking/cid"
	"github.com/ipld/go-ipld-prime/node/basicnode"
	"github.com/ipld/go-ipld-prime/traversal"

	"github.com/trove-p2p/trove/block"
)

// Multicodec codes of the codecs this package handles.
const (
	DagCBOR = 0x71
	DagJSON = 0x0129
	JSON    = 0x0200
	CBOR    = 0x51
)

// Known reports whether trove stores and serves blocks of codec: the two
// UnixFS ones and the four this package decodes.
func Known(codec uint64) bool {
	switch codec {
	case block.CodecRaw, block.CodecDagPB, DagCBOR, DagJSON, JSON, CBOR:
		return true
	}
	return false
}

// Name is the multicodec name of code, or its hex value.
func Name(code uint64) string {
	switch code {
	case block.CodecRaw:
		return "raw"
	case block.CodecDagPB:
		return "dag-pb"
	case DagCBOR:
		return "dag-cbor"
	case DagJSON:
		return "dag-json"
	case JSON:
		return "json"
	case CBOR:
		return "cbor"
	}
	return fmt.Sprintf("0x%x", code)
}

func decoder(code uint64) (codec.Decoder, error) {
	switch code {
	case DagCBOR:
		return dagcbor.Decode, nil
	case DagJSON:
		return dagjson.Decode, nil
	case JSON:
		return json.Decode, nil
	case CBOR:
		return cbor.Decode, nil
	}
	return nil, fmt.Errorf("%w: codec %s", block.ErrUnsupported, Name(code))
}

func encoder(code uint64) (codec.Encoder, error) {
	switch code {
	case DagCBOR:
		return dagcbor.Encode, nil
	case DagJSON:
		return dagjson.Encode, nil
	case JSON:
		return json.Encode, nil
	case CBOR:
		return cbor.Encode, nil
	}
	return nil, fmt.Errorf("%w: codec %s", block.ErrUnsupported, Name(code))
}

// Decode parses a block of c's codec into a data model node. Blocks are at
// most block.MaxSize, so the decoded value is bounded too.
func Decode(c cid.Cid, data []byte) (datamodel.Node, error) {
	dec, err := decoder(c.Type())
	if err != nil {
		return nil, err
	}
	nb := basicnode.Prototype.Any.NewBuilder()
	if err := dec(nb, bytes.NewReader(data)); err != nil {
		return nil, fmt.Errorf("%s: decode %s: %w", c, Name(c.Type()), err)
	}
	return nb.Build(), nil
}

// Encode writes n in the codec code.
func Encode(w io.Writer, n datamodel.Node, code uint64) error {
	enc, err := encoder(code)
	if err != nil {
		return err
	}
	return enc(n, w)
}

// Links lists the CIDs a block of a codec this package handles links
// to, in the order the walk meets them (map entries in encoded order).
// json and cbor cannot hold links and always return none.
func Links(c cid.Cid, data []byte) ([]cid.Cid, error) {
	switch c.Type() {
	case JSON, CBOR:
		return nil, nil
	}
	n, err := Decode(c, data)
	if err != nil {
		return nil, err
	}
	ls, err := traversal.SelectLinks(n)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c, err)
	}
	out := make([]cid.Cid, 0, len(ls))
	for _, l := range ls {
		if cl, ok := l.(cidlink.Link); ok {
			out = append(out, cl.Cid)
		}
	}
	return out, nil
}
