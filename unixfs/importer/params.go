package importer

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/trove-p2p/trove/block"
)

// Profile names accepted by ParamsFor (IPIP-499).
const (
	ProfileV1_2025 = "unixfs-v1-2025"
	ProfileV0_2015 = "unixfs-v0-2015"
)

// Defaults of the unixfs-v1-2025 profile, which is also what a zero Params
// means.
const (
	DefaultChunkSize      = 1 << 20
	DefaultMaxLinks       = 1024
	DefaultShardThreshold = 256 << 10
	// HAMTFanout is the shard width Kubo uses in both profiles.
	HAMTFanout = 256
	// MaxChunkSize leaves room for the dag-pb/UnixFS framing of a legacy
	// leaf inside block.MaxSize.
	MaxChunkSize = block.MaxSize - 1024
	// MaxMaxLinks keeps a file's internal node (≈45 bytes per link) far
	// below block.MaxSize.
	MaxMaxLinks = 16384
)

// ErrParams is wrapped by every invalid-parameter error.
var ErrParams = errors.New("invalid import parameters")

// Params decides the shape of the DAG and therefore every CID. The zero
// value is the unixfs-v1-2025 profile: CIDv1, sha2-256, 1 MiB chunks, 1024
// links per file node, raw leaves, and a directory becomes a HAMT when its
// serialized block would exceed 256 KiB. Fields are phrased so that their
// zero value is that default.
type Params struct {
	// CIDv0 writes dag-pb nodes as CIDv0 (requires sha2-256). Raw leaves
	// stay CIDv1, as in Kubo: the raw codec has no v0 form.
	CIDv0 bool
	// DagPBLeaves stores chunks as UnixFS File nodes inside dag-pb blocks
	// (the legacy layout) instead of raw blocks.
	DagPBLeaves bool
	// ChunkSize is the fixed chunk length in bytes; 0 means 1 MiB.
	ChunkSize int
	// MaxLinks is the most children a file's internal node has; 0 means 1024.
	MaxLinks int
	// Hash is the multihash code (block.HashSHA256 or block.HashBLAKE3);
	// 0 means sha2-256.
	Hash uint64
	// ShardThreshold is the directory size above which a directory becomes
	// a HAMT; 0 means 256 KiB, negative never shards.
	ShardThreshold int
	// ShardByLinkSize measures a directory the legacy (unixfs-v0-2015)
	// way, as the sum of name and CID byte lengths of its entries, instead
	// of the exact size of its serialized block.
	ShardByLinkSize bool
}

// resolved is Params with defaults applied and the CID settings split out,
// the form the hot paths use.
type resolved struct {
	nodeVersion  int // CID version of dag-pb nodes
	rawLeaves    bool
	chunkSize    int
	maxLinks     int
	hash         uint64
	shardAt      int // < 0: never
	shardByLinks bool
}

func (p Params) resolve() (resolved, error) {
	r := resolved{
		nodeVersion:  1,
		rawLeaves:    !p.DagPBLeaves,
		chunkSize:    p.ChunkSize,
		maxLinks:     p.MaxLinks,
		hash:         p.Hash,
		shardAt:      p.ShardThreshold,
		shardByLinks: p.ShardByLinkSize,
	}
	if p.CIDv0 {
		r.nodeVersion = 0
	}
	if r.chunkSize == 0 {
		r.chunkSize = DefaultChunkSize
	}
	if r.maxLinks == 0 {
		r.maxLinks = DefaultMaxLinks
	}
	if r.hash == 0 {
		r.hash = block.HashSHA256
	}
	if r.shardAt == 0 {
		r.shardAt = DefaultShardThreshold
	}
	switch {
	case r.chunkSize < 1 || r.chunkSize > MaxChunkSize:
		return r, fmt.Errorf("%w: chunk size %d not in 1..%d", ErrParams, r.chunkSize, MaxChunkSize)
	case r.maxLinks < 2 || r.maxLinks > MaxMaxLinks:
		return r, fmt.Errorf("%w: max links %d not in 2..%d", ErrParams, r.maxLinks, MaxMaxLinks)
	case r.hash != block.HashSHA256 && r.hash != block.HashBLAKE3:
		return r, fmt.Errorf("%w: multihash 0x%x", ErrParams, r.hash)
	case r.nodeVersion == 0 && r.hash != block.HashSHA256:
		return r, fmt.Errorf("%w: CIDv0 requires sha2-256", ErrParams)
	}
	return r, nil
}

// Validate reports whether p describes a DAG this importer can build.
func (p Params) Validate() error {
	_, err := p.resolve()
	return err
}

// Overrides are the per-command flags (ipfs add --cid-version, --raw-leaves,
// --chunker, --hash, max links) layered over a profile. A nil pointer or
// empty string leaves the profile's value.
type Overrides struct {
	CidVersion *int
	RawLeaves  *bool
	ChunkSize  *int
	MaxLinks   *int
	// Hash is a multihash name: "sha2-256" or "blake3".
	Hash string
}

// ParamsFor builds Params from a profile name ("" means unixfs-v1-2025)
// and overrides, composing them as Kubo does: a non-sha2-256 hash without an
// explicit CID version implies CIDv1, and CIDv1 without an explicit
// raw-leaves choice implies raw leaves. Hence unixfs-v0-2015 with
// CidVersion 1 equals `ipfs add --cid-version=1`.
func ParamsFor(profile string, o Overrides) (Params, error) {
	var p Params
	switch profile {
	case "", ProfileV1_2025:
	case ProfileV0_2015:
		p = Params{
			CIDv0:           true,
			DagPBLeaves:     true,
			ChunkSize:       256 << 10,
			MaxLinks:        174,
			ShardByLinkSize: true,
		}
	default:
		return Params{}, fmt.Errorf("%w: unknown profile %q", ErrParams, profile)
	}
	switch o.Hash {
	case "":
	case "sha2-256":
		p.Hash = block.HashSHA256
	case "blake3":
		p.Hash = block.HashBLAKE3
	default:
		return Params{}, fmt.Errorf("%w: unknown hash %q", ErrParams, o.Hash)
	}
	if o.CidVersion != nil {
		switch *o.CidVersion {
		case 0:
			p.CIDv0 = true
		case 1:
			p.CIDv0 = false
			if o.RawLeaves == nil {
				p.DagPBLeaves = false
			}
		default:
			return Params{}, fmt.Errorf("%w: CID version %d", ErrParams, *o.CidVersion)
		}
	} else if p.Hash != 0 && p.Hash != block.HashSHA256 && p.CIDv0 {
		p.CIDv0 = false
		if o.RawLeaves == nil {
			p.DagPBLeaves = false
		}
	}
	if o.RawLeaves != nil {
		p.DagPBLeaves = !*o.RawLeaves
	}
	if o.ChunkSize != nil {
		p.ChunkSize = *o.ChunkSize
	}
	if o.MaxLinks != nil {
		p.MaxLinks = *o.MaxLinks
	}
	if err := p.Validate(); err != nil {
		return Params{}, err
	}
	return p, nil
}

// ParseChunker parses Kubo's fixed-size chunker syntax "size-N" (and
// "default", meaning the profile's size, returned as 0). Content-defined
// chunkers (rabin, buzhash) are not implemented.
func ParseChunker(s string) (int, error) {
	if s == "" || s == "default" {
		return 0, nil
	}
	rest, ok := strings.CutPrefix(s, "size-")
	if !ok {
		return 0, fmt.Errorf("%w: chunker %q: only size-N is supported", ErrParams, s)
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 1 || n > MaxChunkSize {
		return 0, fmt.Errorf("%w: chunker %q: size must be 1..%d", ErrParams, s, MaxChunkSize)
	}
	return n, nil
}
