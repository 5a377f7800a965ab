package pb

import (
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"google.golang.org/protobuf/encoding/protowire"
)

// ErrMalformed is wrapped by every decoding error, so callers can tell a bad
// block from an I/O failure with errors.Is.
var ErrMalformed = errors.New("malformed dag-pb")

// Field numbers of the dag-pb schema. Links (2) are written before Data (1):
// the order is historical and part of the canonical form.
const (
	nodeData  = 1
	nodeLinks = 2
	linkHash  = 1
	linkName  = 2
	linkTsize = 3
)

// Link is a PBLink. Name and Tsize are optional in the schema, and whether
// they are present changes the bytes (and so the CID), hence the Has flags.
type Link struct {
	Cid      cid.Cid
	Name     string
	HasName  bool
	Tsize    uint64
	HasTsize bool
}

// Node is a PBNode. HasData distinguishes an absent Data field from an empty
// one, which encode differently.
type Node struct {
	Links   []Link
	Data    []byte
	HasData bool
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// consumeTag reads a field tag and requires the length-delimited wire type,
// which is the only one dag-pb uses outside Tsize.
func consumeTag(b []byte) (protowire.Number, protowire.Type, int, error) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 {
		return 0, 0, 0, malformed("bad field tag: %v", protowire.ParseError(n))
	}
	if n != protowire.SizeTag(num) {
		return 0, 0, 0, malformed("non-minimal field tag")
	}
	return num, typ, n, nil
}

// consumeBytes reads a length-delimited value and insists on a minimal
// length varint, so that accepted input has exactly one encoding.
func consumeBytes(b []byte) ([]byte, int, error) {
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return nil, 0, malformed("bad length-delimited field: %v", protowire.ParseError(n))
	}
	if n != protowire.SizeBytes(len(v)) {
		return nil, 0, malformed("non-minimal length prefix")
	}
	return v, n, nil
}

func consumeVarint(b []byte) (uint64, int, error) {
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return 0, 0, malformed("bad varint: %v", protowire.ParseError(n))
	}
	if n != protowire.SizeVarint(v) {
		return 0, 0, malformed("non-minimal varint")
	}
	return v, n, nil
}

// Unmarshal decodes a dag-pb block. Data aliases b; Links carry their own
// copies of the CID bytes.
func Unmarshal(b []byte) (*Node, error) {
	if len(b) > block.MaxSize {
		return nil, fmt.Errorf("dag-pb node of %d bytes: %w", len(b), block.ErrTooLarge)
	}
	n := &Node{}
	err := walkNode(b, func(l []byte) error {
		lk, err := unmarshalLink(l)
		if err != nil {
			return err
		}
		n.Links = append(n.Links, lk)
		return nil
	}, func(d []byte) {
		n.Data, n.HasData = d, true
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// walkNode enforces the PBNode framing and hands each link body and the Data
// body to the callbacks. Unmarshal and AppendLinks share it so the fast
// path accepts exactly what the full decoder accepts.
//
// The canonical order is Links then Data, but the spec asks decoders to
// accept Data then Links too, because such blocks exist in IPFS. What is
// rejected is Links on both sides of Data, which neither order produces.
func walkNode(b []byte, link func([]byte) error, data func([]byte)) error {
	haveData, linksBefore := false, false
	for len(b) > 0 {
		num, typ, n, err := consumeTag(b)
		if err != nil {
			return err
		}
		if typ != protowire.BytesType {
			return malformed("PBNode field %d has wire type %d, want 2", num, typ)
		}
		b = b[n:]
		v, n, err := consumeBytes(b)
		if err != nil {
			return err
		}
		b = b[n:]
		switch num {
		case nodeLinks:
			if haveData && linksBefore {
				return malformed("PBNode Links on both sides of Data")
			}
			linksBefore = linksBefore || !haveData
			if err := link(v); err != nil {
				return err
			}
		case nodeData:
			if haveData {
				return malformed("PBNode duplicate Data")
			}
			haveData = true
			data(v)
		default:
			return malformed("PBNode unknown field %d", num)
		}
	}
	return nil
}

func unmarshalLink(b []byte) (Link, error) {
	var l Link
	last := protowire.Number(0)
	haveHash := false
	for len(b) > 0 {
		num, typ, n, err := consumeTag(b)
		if err != nil {
			return Link{}, err
		}
		b = b[n:]
		if num <= last {
			return Link{}, malformed("PBLink field %d out of order or duplicated", num)
		}
		last = num
		switch num {
		case linkHash:
			if typ != protowire.BytesType {
				return Link{}, malformed("PBLink Hash has wire type %d", typ)
			}
			v, n, err := consumeBytes(b)
			if err != nil {
				return Link{}, err
			}
			b = b[n:]
			c, err := cid.Cast(v)
			if err != nil {
				return Link{}, malformed("PBLink Hash: %v", err)
			}
			l.Cid, haveHash = c, true
		case linkName:
			if typ != protowire.BytesType {
				return Link{}, malformed("PBLink Name has wire type %d", typ)
			}
			v, n, err := consumeBytes(b)
			if err != nil {
				return Link{}, err
			}
			b = b[n:]
			l.Name, l.HasName = string(v), true
		case linkTsize:
			if typ != protowire.VarintType {
				return Link{}, malformed("PBLink Tsize has wire type %d", typ)
			}
			v, n, err := consumeVarint(b)
			if err != nil {
				return Link{}, err
			}
			b = b[n:]
			l.Tsize, l.HasTsize = v, true
		default:
			return Link{}, malformed("PBLink unknown field %d", num)
		}
	}
	if !haveHash {
		return Link{}, malformed("PBLink without Hash")
	}
	return l, nil
}

// AppendLinks appends the CIDs a dag-pb block links to. Graph walks (GC,
// transfer) need only these, so it skips building Names and the Node. It
// validates exactly as Unmarshal does.
func AppendLinks(dst []cid.Cid, b []byte) ([]cid.Cid, error) {
	if len(b) > block.MaxSize {
		return dst, fmt.Errorf("dag-pb node of %d bytes: %w", len(b), block.ErrTooLarge)
	}
	start := len(dst)
	err := walkNode(b, func(v []byte) error {
		l, err := unmarshalLink(v)
		if err != nil {
			return err
		}
		dst = append(dst, l.Cid)
		return nil
	}, func([]byte) {})
	if err != nil {
		return dst[:start], err
	}
	return dst, nil
}

// Marshal returns the canonical encoding of n. Every link must have a
// defined Cid: an undefined one encodes as an empty Hash, which Unmarshal
// (like every dag-pb decoder) rejects.
func (n *Node) Marshal() []byte {
	return n.AppendMarshal(make([]byte, 0, n.size()))
}

func (l *Link) size() int {
	s := protowire.SizeTag(linkHash) + protowire.SizeBytes(l.Cid.ByteLen())
	if l.HasName {
		s += protowire.SizeTag(linkName) + protowire.SizeBytes(len(l.Name))
	}
	if l.HasTsize {
		s += protowire.SizeTag(linkTsize) + protowire.SizeVarint(l.Tsize)
	}
	return s
}

func (n *Node) size() int {
	s := 0
	for i := range n.Links {
		s += protowire.SizeTag(nodeLinks) + protowire.SizeBytes(n.Links[i].size())
	}
	if n.HasData {
		s += protowire.SizeTag(nodeData) + protowire.SizeBytes(len(n.Data))
	}
	return s
}

// AppendMarshal appends the canonical encoding of n to dst, letting the
// importer reuse one buffer per block.
func (n *Node) AppendMarshal(dst []byte) []byte {
	for i := range n.Links {
		l := &n.Links[i]
		dst = protowire.AppendTag(dst, nodeLinks, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(l.size()))
		dst = protowire.AppendTag(dst, linkHash, protowire.BytesType)
		dst = protowire.AppendVarint(dst, uint64(l.Cid.ByteLen()))
		dst = append(dst, l.Cid.KeyString()...)
		if l.HasName {
			dst = protowire.AppendTag(dst, linkName, protowire.BytesType)
			dst = protowire.AppendString(dst, l.Name)
		}
		if l.HasTsize {
			dst = protowire.AppendTag(dst, linkTsize, protowire.VarintType)
			dst = protowire.AppendVarint(dst, l.Tsize)
		}
	}
	if n.HasData {
		dst = protowire.AppendTag(dst, nodeData, protowire.BytesType)
		dst = protowire.AppendBytes(dst, n.Data)
	}
	return dst
}

// EncodedSize is the length Marshal would return; the importer uses it to
// decide when a directory must become a HAMT without encoding it.
func (n *Node) EncodedSize() int { return n.size() }
