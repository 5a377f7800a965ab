package blockstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/trove-p2p/trove/block"
)

// Ref says where a raw block's bytes live outside the store: Length bytes at
// Offset of the file at Path, as long as that file is still the one File
// identifies. A store keeps a Ref instead of the bytes for content added or
// fetched with --nocopy (docs/blockstore.md, "References").
type Ref struct {
	// Path is absolute and clean: the daemon and the CLI may have
	// different working directories, and a relative path would name a
	// different file for each.
	Path   string
	Offset int64
	Length int
	// File is the file's identity when the reference was made. Any
	// difference later (another inode, size or mtime) means the file may
	// have changed, and the block counts as missing.
	File FileID
}

// FileID identifies one version of a file cheaply, from a single stat: an
// edit in place changes mtime (and usually size), a replacement changes
// the inode, a move to another file system the device.
type FileID struct {
	Dev, Ino uint64
	Size     int64
	MtimeNs  int64
}

// Reference record limits. maxRefPath is Linux's PATH_MAX: no longer path
// can be opened, so a longer one in a record is damage.
const (
	refVersion   = 1
	maxRefPath   = 4096
	maxRefRecord = 1 + 6*binary.MaxVarintLen64 + maxRefPath
)

var errBadRef = errors.New("blockstore: bad reference record")

// check reports what makes r unusable as a reference, so that a record
// that decodes is also one the read path can follow.
func (r Ref) check() error {
	switch {
	case !filepath.IsAbs(r.Path) || filepath.Clean(r.Path) != r.Path:
		return fmt.Errorf("%w: path %q is not absolute and clean", errBadRef, r.Path)
	case len(r.Path) > maxRefPath || strings.IndexByte(r.Path, 0) >= 0:
		return fmt.Errorf("%w: path of %d bytes", errBadRef, len(r.Path))
	case r.Offset < 0 || r.Length < 0 || r.Length > block.MaxSize:
		return fmt.Errorf("%w: offset %d, length %d", errBadRef, r.Offset, r.Length)
	case r.File.Size < 0 || r.Offset > r.File.Size-int64(r.Length):
		return fmt.Errorf("%w: %d bytes at %d of a %d-byte file", errBadRef, r.Length, r.Offset, r.File.Size)
	}
	return nil
}

// encodeRef is the value of a reference key: a version byte, then the
// file identity, offset, length and path as varints (the path
// length-prefixed). Varints keep a record of a short path near 40 bytes,
// small enough to stay inline in Badger's LSM tree.
func encodeRef(r Ref) ([]byte, error) {
	if err := r.check(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 1+6*binary.MaxVarintLen64+len(r.Path))
	b = append(b, refVersion)
	b = binary.AppendUvarint(b, r.File.Dev)
	b = binary.AppendUvarint(b, r.File.Ino)
	b = binary.AppendVarint(b, r.File.Size)
	b = binary.AppendVarint(b, r.File.MtimeNs)
	b = binary.AppendVarint(b, r.Offset)
	b = binary.AppendUvarint(b, uint64(r.Length))
	b = binary.AppendUvarint(b, uint64(len(r.Path)))
	return append(b, r.Path...), nil
}

// decodeRef parses a record written by encodeRef. It refuses anything
// longer than maxRefRecord, unknown versions, trailing bytes and records
// that fail Ref.check, so what it returns is safe to follow.
func decodeRef(b []byte) (Ref, error) {
	if len(b) > maxRefRecord {
		return Ref{}, fmt.Errorf("%w: %d bytes", errBadRef, len(b))
	}
	if len(b) == 0 || b[0] != refVersion {
		return Ref{}, fmt.Errorf("%w: unknown version", errBadRef)
	}
	d := refDecoder{b: b[1:]}
	var r Ref
	r.File.Dev = d.uvarint()
	r.File.Ino = d.uvarint()
	r.File.Size = d.varint()
	r.File.MtimeNs = d.varint()
	r.Offset = d.varint()
	length := d.uvarint()
	n := d.uvarint()
	if d.err != nil {
		return Ref{}, d.err
	}
	if length > block.MaxSize || n != uint64(len(d.b)) {
		return Ref{}, fmt.Errorf("%w: length %d, path %d of %d bytes left", errBadRef, length, n, len(d.b))
	}
	r.Length = int(length)
	r.Path = string(d.b)
	if err := r.check(); err != nil {
		return Ref{}, err
	}
	return r, nil
}

// refDecoder reads varints and keeps the first error.
type refDecoder struct {
	b   []byte
	err error
}

func (d *refDecoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: truncated varint", errBadRef)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *refDecoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: truncated varint", errBadRef)
		return 0
	}
	d.b = d.b[n:]
	return v
}
