package transfer

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
)

// ProtocolID names version 1 of the protocol. A peer that needs an
// incompatible change registers a new ID; within one ID, receivers skip
// message types they do not know (see docs/protocol.md).
const ProtocolID = "/trove/transfer/1.0.0"

// Message types. Requests have the high bit clear, responses set.
const (
	MsgHave     byte = 0x01 // id, cids: which of these do you have?
	MsgWant     byte = 0x02 // id, cids: send these blocks
	MsgDAG      byte = 0x03 // id, root, flags, start, end: send the DAG under root
	MsgCancel   byte = 0x04 // id: stop working on a request
	MsgCredit   byte = 0x05 // bytes: grant the sender this much more block data
	MsgHaveResp byte = 0x81 // id, bitmap
	MsgBlock    byte = 0x82 // id, cid, data
	MsgMissing  byte = 0x83 // id, cid: the server does not have this block
	MsgDone     byte = 0x84 // id, status: the request is finished
)

// DAG request flags.
const (
	// FlagInnerOnly asks for the inner (dag-pb with links) nodes only.
	FlagInnerOnly uint64 = 1 << 0
	// FlagByteRange makes Start/End a byte range of the file rather than
	// a leaf-index range.
	FlagByteRange uint64 = 1 << 1
)

// Status is the outcome of a request, carried by MsgDone.
type Status uint64

const (
	StatusOK         Status = 0
	StatusNotFound   Status = 1 // the root of a DAG request (or a node under it) is missing
	StatusTooMany    Status = 2 // the peer already has MaxRequests open; retry later
	StatusBadRequest Status = 3 // malformed or over-limit request
	StatusInternal   Status = 4 // the server's store failed
	StatusCancelled  Status = 5 // the requester sent MsgCancel
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusNotFound:
		return "not found"
	case StatusTooMany:
		return "too many requests"
	case StatusBadRequest:
		return "bad request"
	case StatusInternal:
		return "internal error"
	case StatusCancelled:
		return "cancelled"
	}
	return fmt.Sprintf("status %d", uint64(s))
}

// Limits every decoder enforces before allocating.
const (
	// MaxFrame bounds one frame: the largest block plus room for the
	// header. Anything longer is a protocol error.
	MaxFrame = block.MaxSize + 1024
	// MaxRequestFrame bounds frames a server accepts; requests carry
	// CIDs, never data.
	MaxRequestFrame = 64 << 10
	// MaxCIDs bounds the CID list of a have or want request.
	MaxCIDs = 1024
	// MaxCIDLen bounds one encoded CID.
	MaxCIDLen = 128
)

// ErrProtocol marks a malformed message; the receiver resets the stream.
var ErrProtocol = errors.New("transfer: protocol error")

// Message is any protocol message; which fields matter depends on Type.
// One flat struct keeps the codec a single switch and the fuzz target
// simple.
type Message struct {
	Type   byte
	ID     uint64    // all but MsgCredit
	CIDs   []cid.Cid // MsgHave, MsgWant
	CID    cid.Cid   // MsgDAG (root), MsgBlock, MsgMissing
	Flags  uint64    // MsgDAG
	Start  uint64    // MsgDAG
	End    uint64    // MsgDAG; 0 means to the end
	Bits   []byte    // MsgHaveResp: bit i (LSB first) set = has CIDs[i]
	Data   []byte    // MsgBlock
	Status Status    // MsgDone
	Credit uint64    // MsgCredit

	// frame is the pooled receive buffer Data points into, if any; see
	// session.release.
	frame *[]byte
}

// AppendFrame appends m, framed (uvarint length, type byte, body), to dst.
func AppendFrame(dst []byte, m *Message) []byte {
	return AppendFrameHeader(dst, m, 0)
}

// AppendFrameHeader is AppendFrame for a frame whose last extra bytes (a
// block's data) the caller writes itself, saving a copy of the block.
func AppendFrameHeader(dst []byte, m *Message, extra int) []byte {
	start := len(dst)
	// Reserve the maximum uvarint width, then shift down once the body
	// length is known; cheaper than encoding twice.
	dst = append(dst, make([]byte, binary.MaxVarintLen64)...)
	body := len(dst)
	dst = append(dst, m.Type)
	switch m.Type {
	case MsgHave, MsgWant:
		dst = binary.AppendUvarint(dst, m.ID)
		dst = binary.AppendUvarint(dst, uint64(len(m.CIDs)))
		for _, c := range m.CIDs {
			dst = appendCID(dst, c)
		}
	case MsgDAG:
		dst = binary.AppendUvarint(dst, m.ID)
		dst = appendCID(dst, m.CID)
		dst = binary.AppendUvarint(dst, m.Flags)
		dst = binary.AppendUvarint(dst, m.Start)
		dst = binary.AppendUvarint(dst, m.End)
	case MsgCancel:
		dst = binary.AppendUvarint(dst, m.ID)
	case MsgCredit:
		dst = binary.AppendUvarint(dst, m.Credit)
	case MsgHaveResp:
		dst = binary.AppendUvarint(dst, m.ID)
		dst = binary.AppendUvarint(dst, uint64(len(m.Bits)))
		dst = append(dst, m.Bits...)
	case MsgBlock:
		dst = binary.AppendUvarint(dst, m.ID)
		dst = appendCID(dst, m.CID)
		dst = append(dst, m.Data...)
	case MsgMissing:
		dst = binary.AppendUvarint(dst, m.ID)
		dst = appendCID(dst, m.CID)
	case MsgDone:
		dst = binary.AppendUvarint(dst, m.ID)
		dst = binary.AppendUvarint(dst, uint64(m.Status))
	}
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(dst)-body+extra))
	shift := binary.MaxVarintLen64 - n
	copy(dst[start+shift:], hdr[:n])
	copy(dst[start:], dst[start+shift:])
	return dst[:len(dst)-shift]
}

func appendCID(dst []byte, c cid.Cid) []byte {
	b := c.Bytes()
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// ReadFrame reads one frame's payload (type byte and body) from r,
// refusing lengths above max before allocating. The returned slice is
// freshly allocated: block data decoded from it may be kept by a store.
func ReadFrame(r *bufio.Reader, max int) ([]byte, error) {
	n, err := readFrameLen(r, max)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, fmt.Errorf("reading frame: %w", err)
	}
	return buf, nil
}

// readFrameLen reads a frame's uvarint length and checks it against max.
func readFrameLen(r *bufio.Reader, max int) (int, error) {
	var n uint64
	for i := 0; ; i++ {
		c, err := r.ReadByte()
		if err != nil {
			if i == 0 && errors.Is(err, io.EOF) {
				return 0, io.EOF
			}
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, fmt.Errorf("reading frame length: %w", err)
		}
		// Four bytes of uvarint already exceed any frame this
		// protocol allows; stop before overflow games.
		if i == 4 {
			return 0, fmt.Errorf("%w: frame length too long", ErrProtocol)
		}
		n |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			break
		}
	}
	if n == 0 || n > uint64(max) {
		return 0, fmt.Errorf("%w: frame length %d (max %d)", ErrProtocol, n, max)
	}
	return int(n), nil
}

// errUnknownType is returned by Decode for types this version does not
// know; receivers skip such frames so that later minor revisions can add
// advisory messages without a new protocol ID.
var errUnknownType = errors.New("unknown message type")

// Decode parses one frame payload. Data aliases payload.
func Decode(payload []byte) (Message, error) {
	var m Message
	if len(payload) == 0 {
		return m, fmt.Errorf("%w: empty frame", ErrProtocol)
	}
	d := decoder{b: payload}
	m.Type = d.byte()
	switch m.Type {
	case MsgHave, MsgWant:
		m.ID = d.uvarint()
		n := d.uvarint()
		if n > MaxCIDs {
			return m, fmt.Errorf("%w: %d CIDs (max %d)", ErrProtocol, n, MaxCIDs)
		}
		// Each CID takes at least two bytes, so a count the frame cannot
		// hold is rejected before the slice is allocated.
		if n > uint64(len(d.b))/2 {
			return m, fmt.Errorf("%w: %d CIDs in %d bytes", ErrProtocol, n, len(d.b))
		}
		m.CIDs = make([]cid.Cid, 0, n)
		for i := uint64(0); i < n && d.err == nil; i++ {
			m.CIDs = append(m.CIDs, d.cid())
		}
	case MsgDAG:
		m.ID = d.uvarint()
		m.CID = d.cid()
		m.Flags = d.uvarint()
		m.Start = d.uvarint()
		m.End = d.uvarint()
	case MsgCancel:
		m.ID = d.uvarint()
	case MsgCredit:
		m.Credit = d.uvarint()
	case MsgHaveResp:
		m.ID = d.uvarint()
		n := d.uvarint()
		if n > MaxCIDs/8+1 || n > uint64(len(d.b)) {
			return m, fmt.Errorf("%w: bitmap of %d bytes", ErrProtocol, n)
		}
		m.Bits = d.take(int(n))
	case MsgBlock:
		m.ID = d.uvarint()
		m.CID = d.cid()
		if len(d.b) > block.MaxSize {
			return m, fmt.Errorf("%w: block of %d bytes: %w", ErrProtocol, len(d.b), block.ErrTooLarge)
		}
		m.Data = d.b
		d.b = nil
	case MsgMissing:
		m.ID = d.uvarint()
		m.CID = d.cid()
	case MsgDone:
		m.ID = d.uvarint()
		m.Status = Status(d.uvarint())
	default:
		return m, fmt.Errorf("type 0x%02x: %w", m.Type, errUnknownType)
	}
	if d.err != nil {
		return m, fmt.Errorf("%w: type 0x%02x: %w", ErrProtocol, m.Type, d.err)
	}
	if len(d.b) != 0 {
		return m, fmt.Errorf("%w: type 0x%02x: %d trailing bytes", ErrProtocol, m.Type, len(d.b))
	}
	return m, nil
}

// decoder is a sticky-error cursor: after the first failure every read
// returns zero values, so Decode checks d.err once at the end.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) == 0 {
		d.fail(io.ErrUnexpectedEOF)
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(errors.New("bad uvarint"))
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b) {
		d.fail(io.ErrUnexpectedEOF)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) cid() cid.Cid {
	n := d.uvarint()
	if d.err != nil {
		return cid.Undef
	}
	if n == 0 || n > MaxCIDLen {
		d.fail(fmt.Errorf("CID length %d", n))
		return cid.Undef
	}
	b := d.take(int(n))
	if d.err != nil {
		return cid.Undef
	}
	c, err := cid.Cast(b)
	if err != nil {
		d.fail(err)
		return cid.Undef
	}
	return c
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
}
