package car

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"
)

// ErrMalformed is wrapped by every error caused by the bytes of the archive
// itself (as opposed to I/O or store failures).
var ErrMalformed = errors.New("malformed CAR")

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// CBOR major types used by the header.
const (
	majorUint  = 0
	majorBytes = 2
	majorText  = 3
	majorArray = 4
	majorMap   = 5
	majorTag   = 6

	// tagCID is the dag-cbor tag for a link; its byte string carries a
	// 0x00 multibase "identity" prefix before the binary CID.
	tagCID = 42
)

// appendHead appends a CBOR head: major type and argument in the shortest
// form, as dag-cbor requires.
func appendHead(dst []byte, major byte, n uint64) []byte {
	m := major << 5
	switch {
	case n < 24:
		return append(dst, m|byte(n))
	case n <= 0xff:
		return append(dst, m|24, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, m|25), uint16(n))
	case n <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(dst, m|26), uint32(n))
	default:
		return binary.BigEndian.AppendUint64(append(dst, m|27), n)
	}
}

// encodeHeader hand-encodes {"roots": [...], "version": 1} in dag-cbor's
// canonical key order (shorter key first). A CBOR library for one fixed
// shape would be more code to trust than this.
func encodeHeader(roots []cid.Cid) []byte {
	b := appendHead(nil, majorMap, 2)
	b = appendHead(b, majorText, 5)
	b = append(b, "roots"...)
	b = appendHead(b, majorArray, uint64(len(roots)))
	for _, r := range roots {
		b = appendHead(b, majorTag, tagCID)
		b = appendHead(b, majorBytes, uint64(r.ByteLen()+1))
		b = append(b, 0)
		b = append(b, r.KeyString()...)
	}
	b = appendHead(b, majorText, 7)
	b = append(b, "version"...)
	return appendHead(b, majorUint, 1)
}

// cborReader decodes just the CBOR the header needs, over an in-memory
// buffer whose length has already been capped.
type cborReader struct {
	b   []byte
	off int
}

func (r *cborReader) head() (major byte, arg uint64, err error) {
	if r.off >= len(r.b) {
		return 0, 0, malformed("header truncated at byte %d", r.off)
	}
	ib := r.b[r.off]
	r.off++
	major, info := ib>>5, ib&0x1f
	var size int
	switch {
	case info < 24:
		return major, uint64(info), nil
	case info == 24:
		size = 1
	case info == 25:
		size = 2
	case info == 26:
		size = 4
	case info == 27:
		size = 8
	default:
		// 28-30 are reserved; 31 is indefinite length, which dag-cbor forbids.
		return 0, 0, malformed("header: unsupported CBOR additional info %d", info)
	}
	if len(r.b)-r.off < size {
		return 0, 0, malformed("header truncated at byte %d", r.off)
	}
	for _, c := range r.b[r.off : r.off+size] {
		arg = arg<<8 | uint64(c)
	}
	r.off += size
	return major, arg, nil
}

// bytesOf reads the n-byte payload of a string item, refusing lengths past
// the end of the buffer before slicing.
func (r *cborReader) bytesOf(n uint64) ([]byte, error) {
	if n > uint64(len(r.b)-r.off) {
		return nil, malformed("header: string of %d bytes overruns header", n)
	}
	s := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return s, nil
}

func (r *cborReader) expect(want byte) (uint64, error) {
	major, arg, err := r.head()
	if err != nil {
		return 0, err
	}
	if major != want {
		return 0, malformed("header: CBOR major type %d, want %d", major, want)
	}
	return arg, nil
}

func (r *cborReader) cid() (cid.Cid, error) {
	tag, err := r.expect(majorTag)
	if err != nil {
		return cid.Undef, err
	}
	if tag != tagCID {
		return cid.Undef, malformed("header: root has CBOR tag %d, want 42", tag)
	}
	n, err := r.expect(majorBytes)
	if err != nil {
		return cid.Undef, err
	}
	raw, err := r.bytesOf(n)
	if err != nil {
		return cid.Undef, err
	}
	if len(raw) < 2 || raw[0] != 0 {
		return cid.Undef, malformed("header: root CID lacks the 0x00 prefix")
	}
	c, err := cid.Cast(raw[1:])
	if err != nil {
		return cid.Undef, malformed("header: root CID: %v", err)
	}
	return c, nil
}

// header is a decoded CAR header.
type header struct {
	version uint64
	roots   []cid.Cid
}

// decodeHeader parses the dag-cbor header map. Keys may come in any order
// (foreign writers are not all canonical) but each exactly once, and
// unknown keys are refused: a v1 header has exactly two fields, and
// guessing at extensions is how parsers disagree.
func decodeHeader(b []byte) (header, error) {
	var h header
	r := &cborReader{b: b}
	n, err := r.expect(majorMap)
	if err != nil {
		return h, err
	}
	var haveVersion, haveRoots bool
	for range n {
		kl, err := r.expect(majorText)
		if err != nil {
			return h, err
		}
		key, err := r.bytesOf(kl)
		if err != nil {
			return h, err
		}
		switch string(key) {
		case "version":
			if haveVersion {
				return h, malformed("header: duplicate version")
			}
			haveVersion = true
			if h.version, err = r.expect(majorUint); err != nil {
				return h, err
			}
		case "roots":
			if haveRoots {
				return h, malformed("header: duplicate roots")
			}
			haveRoots = true
			cnt, err := r.expect(majorArray)
			if err != nil {
				return h, err
			}
			// Every root takes more than one byte, so the remaining
			// buffer bounds the count before we allocate for it.
			if cnt > uint64(len(b)-r.off) {
				return h, malformed("header: %d roots cannot fit", cnt)
			}
			h.roots = make([]cid.Cid, 0, cnt)
			for range cnt {
				c, err := r.cid()
				if err != nil {
					return h, err
				}
				h.roots = append(h.roots, c)
			}
		default:
			return h, malformed("header: unknown field %q", key)
		}
	}
	if r.off != len(b) {
		return h, malformed("header: %d trailing bytes", len(b)-r.off)
	}
	if !haveVersion {
		return h, malformed("header: no version")
	}
	if h.version == 2 {
		return h, fmt.Errorf("%w: CARv2 (only CARv1 is supported)", ErrMalformed)
	}
	if h.version != 1 {
		return h, malformed("header: version %d, want 1", h.version)
	}
	if !haveRoots {
		return h, malformed("header: no roots")
	}
	return h, nil
}
