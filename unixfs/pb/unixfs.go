package pb

import (
	"fmt"
	"math"

	"github.com/trove-p2p/trove/block"
	"google.golang.org/protobuf/encoding/protowire"
)

// DataType is the UnixFS node kind (Data.Type).
type DataType int32

// UnixFS node kinds, numbered as in the UnixFS spec.
const (
	TRaw DataType = iota
	TDirectory
	TFile
	TMetadata
	TSymlink
	THAMTShard
)

func (t DataType) String() string {
	switch t {
	case TRaw:
		return "raw"
	case TDirectory:
		return "directory"
	case TFile:
		return "file"
	case TMetadata:
		return "metadata"
	case TSymlink:
		return "symlink"
	case THAMTShard:
		return "hamt-shard"
	}
	return fmt.Sprintf("DataType(%d)", int32(t))
}

// Field numbers of the UnixFS Data and UnixTime messages.
const (
	fsType       = 1
	fsData       = 2
	fsFileSize   = 3
	fsBlockSizes = 4
	fsHashType   = 5
	fsFanout     = 6
	fsMode       = 7
	fsMtime      = 8

	mtSeconds = 1
	mtNanos   = 2
)

// FSNode is the UnixFS Data message. Optional scalars carry Has flags
// because presence changes the encoding, and therefore the CID. Data is
// written when non-nil, so an empty non-nil slice encodes as an empty field
// (Kubo writes leaves that way) while nil omits it.
type FSNode struct {
	Type        DataType
	Data        []byte
	FileSize    uint64
	HasFileSize bool
	BlockSizes  []uint64
	HashType    uint64
	HasHashType bool
	Fanout      uint64
	HasFanout   bool
	Mode        uint32
	HasMode     bool
	Mtime       *Mtime
}

// Mtime is the UnixTime message: seconds relative to the Unix epoch and an
// optional fraction in nanoseconds.
type Mtime struct {
	Seconds  int64
	Nanos    uint32
	HasNanos bool
}

// UnmarshalFS decodes a UnixFS Data message with ordinary protobuf rules
// (see the package comment). Data aliases b. The required Type field must
// be present.
func UnmarshalFS(b []byte) (*FSNode, error) {
	if len(b) > block.MaxSize {
		return nil, fmt.Errorf("unixfs data of %d bytes: %w", len(b), block.ErrTooLarge)
	}
	f := &FSNode{}
	haveType := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, malformed("unixfs: bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		want := protowire.VarintType
		switch num {
		case fsData, fsMtime:
			want = protowire.BytesType
		case fsBlockSizes:
			if typ == protowire.BytesType { // packed
				v, n := protowire.ConsumeBytes(b)
				if n < 0 {
					return nil, malformed("unixfs: bad blocksizes: %v", protowire.ParseError(n))
				}
				b = b[n:]
				for len(v) > 0 {
					x, m := protowire.ConsumeVarint(v)
					if m < 0 {
						return nil, malformed("unixfs: bad packed blocksize: %v", protowire.ParseError(m))
					}
					v = v[m:]
					f.BlockSizes = append(f.BlockSizes, x)
				}
				continue
			}
		case fsType, fsFileSize, fsHashType, fsFanout, fsMode:
		default:
			// Unknown fields are skipped as protobuf does, so that a
			// future UnixFS extension does not make files unreadable.
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, malformed("unixfs: bad field %d: %v", num, protowire.ParseError(n))
			}
			b = b[n:]
			continue
		}
		if typ != want {
			return nil, malformed("unixfs: field %d has wire type %d, want %d", num, typ, want)
		}
		if want == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, malformed("unixfs: bad field %d: %v", num, protowire.ParseError(n))
			}
			b = b[n:]
			if num == fsData {
				f.Data = v
				if f.Data == nil {
					f.Data = []byte{}
				}
				continue
			}
			mt, err := unmarshalMtime(v)
			if err != nil {
				return nil, err
			}
			f.Mtime = mt
			continue
		}
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return nil, malformed("unixfs: bad varint field %d: %v", num, protowire.ParseError(n))
		}
		b = b[n:]
		switch num {
		case fsType:
			// Protobuf enums are int32; anything else is not a kind.
			if int64(v) < math.MinInt32 || int64(v) > math.MaxInt32 {
				return nil, malformed("unixfs: Type %d out of range", int64(v))
			}
			f.Type, haveType = DataType(int32(v)), true
		case fsFileSize:
			f.FileSize, f.HasFileSize = v, true
		case fsBlockSizes:
			f.BlockSizes = append(f.BlockSizes, v)
		case fsHashType:
			f.HashType, f.HasHashType = v, true
		case fsFanout:
			f.Fanout, f.HasFanout = v, true
		case fsMode:
			if v > math.MaxUint32 {
				return nil, malformed("unixfs: mode %d overflows uint32", v)
			}
			f.Mode, f.HasMode = uint32(v), true
		}
	}
	if !haveType {
		return nil, malformed("unixfs: missing Type")
	}
	return f, nil
}

func unmarshalMtime(b []byte) (*Mtime, error) {
	m := &Mtime{}
	haveSeconds := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, malformed("unixfs mtime: bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == mtSeconds && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, malformed("unixfs mtime: bad Seconds: %v", protowire.ParseError(n))
			}
			b = b[n:]
			m.Seconds, haveSeconds = int64(v), true
		case num == mtNanos && typ == protowire.Fixed32Type:
			v, n := protowire.ConsumeFixed32(b)
			if n < 0 {
				return nil, malformed("unixfs mtime: bad FractionalNanoseconds: %v", protowire.ParseError(n))
			}
			b = b[n:]
			m.Nanos, m.HasNanos = v, true
		case num == mtSeconds || num == mtNanos:
			return nil, malformed("unixfs mtime: field %d has wire type %d", num, typ)
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, malformed("unixfs mtime: bad field %d: %v", num, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	if !haveSeconds {
		return nil, malformed("unixfs mtime: missing Seconds")
	}
	return m, nil
}

// Marshal returns the canonical encoding: fields in number order,
// blocksizes unpacked (proto2's default, what Kubo writes).
func (f *FSNode) Marshal() []byte {
	return f.AppendMarshal(make([]byte, 0, 16+len(f.Data)+10*len(f.BlockSizes)))
}

// AppendMarshal appends the canonical encoding of f to dst.
func (f *FSNode) AppendMarshal(dst []byte) []byte {
	dst = protowire.AppendTag(dst, fsType, protowire.VarintType)
	dst = protowire.AppendVarint(dst, uint64(int64(f.Type)))
	if f.Data != nil {
		dst = protowire.AppendTag(dst, fsData, protowire.BytesType)
		dst = protowire.AppendBytes(dst, f.Data)
	}
	if f.HasFileSize {
		dst = protowire.AppendTag(dst, fsFileSize, protowire.VarintType)
		dst = protowire.AppendVarint(dst, f.FileSize)
	}
	for _, s := range f.BlockSizes {
		dst = protowire.AppendTag(dst, fsBlockSizes, protowire.VarintType)
		dst = protowire.AppendVarint(dst, s)
	}
	if f.HasHashType {
		dst = protowire.AppendTag(dst, fsHashType, protowire.VarintType)
		dst = protowire.AppendVarint(dst, f.HashType)
	}
	if f.HasFanout {
		dst = protowire.AppendTag(dst, fsFanout, protowire.VarintType)
		dst = protowire.AppendVarint(dst, f.Fanout)
	}
	if f.HasMode {
		dst = protowire.AppendTag(dst, fsMode, protowire.VarintType)
		dst = protowire.AppendVarint(dst, uint64(f.Mode))
	}
	if f.Mtime != nil {
		var mt []byte
		mt = protowire.AppendTag(mt, mtSeconds, protowire.VarintType)
		mt = protowire.AppendVarint(mt, uint64(f.Mtime.Seconds))
		if f.Mtime.HasNanos {
			mt = protowire.AppendTag(mt, mtNanos, protowire.Fixed32Type)
			mt = protowire.AppendFixed32(mt, f.Mtime.Nanos)
		}
		dst = protowire.AppendTag(dst, fsMtime, protowire.BytesType)
		dst = protowire.AppendBytes(dst, mt)
	}
	return dst
}
