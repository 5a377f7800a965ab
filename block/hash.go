package block

import (
	"bytes"
	"crypto/sha256"
	"fmt"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"github.com/multiformats/go-varint"
	"github.com/zeebo/blake3"
)

// Sum hashes data with the multihash function code (HashSHA256 or
// HashBLAKE3) and returns the CID of the given version and codec. It is the
// hot path of import, so it avoids go-multihash's registry lookups.
func Sum(version int, codec uint64, hash uint64, data []byte) (cid.Cid, error) {
	var digest [32]byte
	switch hash {
	case HashSHA256:
		digest = sha256.Sum256(data)
	case HashBLAKE3:
		digest = blake3.Sum256(data)
	default:
		return cid.Undef, fmt.Errorf("%w: multihash code 0x%x", ErrUnsupported, hash)
	}
	mh := append(varint.ToUvarint(hash), byte(len(digest)))
	mh = append(mh, digest[:]...)
	switch version {
	case 0:
		if codec != CodecDagPB || hash != HashSHA256 {
			return cid.Undef, fmt.Errorf("%w: CIDv0 is only dag-pb with sha2-256", ErrUnsupported)
		}
		return cid.NewCidV0(mh), nil
	case 1:
		return cid.NewCidV1(codec, mh), nil
	default:
		return cid.Undef, fmt.Errorf("%w: CID version %d", ErrUnsupported, version)
	}
}

// Verify checks that data hashes to c. It is the one choke point every byte
// from outside (a peer, a CAR file, a store read with verification on)
// passes before anything trusts it. It also enforces MaxSize.
func Verify(c cid.Cid, data []byte) error {
	if len(data) > MaxSize {
		return fmt.Errorf("%s: %w", c, ErrTooLarge)
	}
	p := c.Prefix()
	if (p.MhType != HashSHA256 && p.MhType != HashBLAKE3) || (p.MhLength != 32 && p.MhLength != -1) {
		return verifyOther(c, data)
	}
	got, err := Sum(int(p.Version), p.Codec, p.MhType, data)
	if err != nil {
		return fmt.Errorf("%s: %w", c, err)
	}
	if !bytes.Equal(got.Hash(), c.Hash()) {
		return fmt.Errorf("%s: %w", c, ErrCorrupt)
	}
	return nil
}

// otherHashes are the multihash functions accepted besides the two fast
// ones, for content made elsewhere (the gateway conformance fixtures use
// sha2-512). Identity is not among them: its data lives in the CID and is
// never a stored or fetched block.
var otherHashes = map[uint64]bool{mh.SHA2_512: true, mh.SHA3_256: true, mh.SHA3_512: true, mh.BLAKE2B_MIN + 31: true}

// verifyOther checks data against a CID of a less common hash function,
// through go-multihash's registry.
func verifyOther(c cid.Cid, data []byte) error {
	p := c.Prefix()
	if !otherHashes[p.MhType] {
		return fmt.Errorf("%w: %s: multihash code 0x%x with a %d-byte digest", ErrUnsupported, c, p.MhType, p.MhLength)
	}
	got, err := mh.Sum(data, p.MhType, p.MhLength)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUnsupported, c, err)
	}
	if !bytes.Equal(got, c.Hash()) {
		return fmt.Errorf("%s: %w", c, ErrCorrupt)
	}
	return nil
}
