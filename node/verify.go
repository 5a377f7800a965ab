package node

import (
	"context"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/blockstore"
)

// RepoVerifyOptions qualifies RepoVerify. The zero value checks and
// changes nothing.
type RepoVerifyOptions struct {
	// Repair deletes corrupt blocks so that a later get (with the daemon)
	// downloads good copies. Pins stay.
	Repair bool `json:"Repair,omitempty"`
	// Progress, if set, receives running totals, often: throttle before
	// drawing or sending them.
	Progress func(VerifyProgress) `json:"-"`
}

// VerifyProgress is the running total RepoVerify reports, and the event
// epRepoVerify streams.
type VerifyProgress struct {
	Blocks int64 `json:"Blocks"`
	Bytes  int64 `json:"Bytes"`
	// TotalBytes is the repo's block bytes when verification began, for a
	// percentage; blocks added meanwhile can make Bytes pass it.
	TotalBytes int64 `json:"TotalBytes"`
}

// CorruptBlock is a stored block that no longer matches its hash. The
// store keys blocks by multihash alone, so Cid is a raw-codec CIDv1 of that
// multihash; `trove block get` accepts it like any CID of the same hash.
type CorruptBlock struct {
	Cid   string `json:"Cid"`
	Error string `json:"Error"`
}

// DanglingPin is a recursive or direct pin whose DAG is not wholly and
// intactly stored: Missing blocks are absent, Corrupt ones failed
// verification (and were not repaired). First names the first one met.
type DanglingPin struct {
	Cid     string `json:"Cid"`
	Type    string `json:"Type"`
	Name    string `json:"Name,omitempty"`
	Missing int    `json:"Missing"`
	Corrupt int    `json:"Corrupt"`
	First   string `json:"First"`
}

// StaleRef is a reference (add or get --nocopy) whose file changed,
// moved or vanished: its block counts as missing.
type StaleRef struct {
	Cid   string `json:"Cid"`
	Path  string `json:"Path"`
	Error string `json:"Error"`
}

// RepoVerifyResult is `trove repo verify`'s report. Corrupt and
// DanglingPins count everything; the lists hold the first 1000.
type RepoVerifyResult struct {
	Blocks        int64          `json:"Blocks"`
	Bytes         int64          `json:"Bytes"`
	Corrupt       int            `json:"Corrupt"`
	CorruptBlocks []CorruptBlock `json:"CorruptBlocks"`
	Removed       int            `json:"Removed"`
	DanglingPins  int            `json:"DanglingPins"`
	Dangling      []DanglingPin  `json:"Dangling"`
	// Refs counts the references checked; StaleRefs those whose file
	// changed (StaleList holds the first 1000), RefsDropped those
	// Repair deleted.
	Refs        int64      `json:"Refs"`
	StaleRefs   int        `json:"StaleRefs"`
	StaleList   []StaleRef `json:"StaleList"`
	RefsDropped int        `json:"RefsDropped"`
	Seconds     float64    `json:"Seconds"`
}

// Clean reports whether verification found nothing wrong left in the
// repo: no corrupt block remains and every pin is complete.
func (r RepoVerifyResult) Clean() bool {
	return r.Corrupt == r.Removed && r.StaleRefs == r.RefsDropped && r.DanglingPins == 0
}

// RepoVerify re-hashes every block in the store and walks every
// recursive and direct pin (see blockstore.Store.Verify). Problems found
// are the result, not an error: the error is for verification that could
// not run (cancelled, store closed).
func (n *Node) RepoVerify(ctx context.Context, o RepoVerifyOptions) (RepoVerifyResult, error) {
	var total int64
	var progress func(blocks, bytes int64)
	if o.Progress != nil {
		st, err := n.store.Stat(ctx)
		if err != nil {
			return RepoVerifyResult{}, err
		}
		total = st.Bytes
		progress = func(blocks, bytes int64) {
			o.Progress(VerifyProgress{Blocks: blocks, Bytes: bytes, TotalBytes: total})
		}
	}
	r, err := n.store.Verify(ctx, blockstore.VerifyOptions{Repair: o.Repair, Progress: progress})
	res := RepoVerifyResult{
		Blocks: r.Blocks, Bytes: r.Bytes, Corrupt: r.Corrupt, Removed: r.Removed,
		DanglingPins: r.DanglingPins, Seconds: r.Elapsed.Seconds(),
		Refs: r.Refs, StaleRefs: r.StaleRefs, RefsDropped: r.RefsDropped,
		StaleList:     make([]StaleRef, 0, len(r.Stale)),
		CorruptBlocks: make([]CorruptBlock, 0, len(r.Bad)),
		Dangling:      make([]DanglingPin, 0, len(r.Dangling)),
	}
	for _, b := range r.Bad {
		res.CorruptBlocks = append(res.CorruptBlocks, CorruptBlock{
			Cid: cid.NewCidV1(block.CodecRaw, b.Hash).String(), Error: b.Err.Error(),
		})
	}
	for _, b := range r.Stale {
		res.StaleList = append(res.StaleList, StaleRef{
			Cid: cid.NewCidV1(block.CodecRaw, b.Hash).String(), Path: b.Path, Error: b.Err.Error(),
		})
	}
	for _, d := range r.Dangling {
		res.Dangling = append(res.Dangling, DanglingPin{
			Cid: d.Pin.Cid.String(), Type: d.Pin.Kind.String(), Name: d.Pin.Name,
			Missing: d.Missing, Corrupt: d.Corrupt, First: d.First.String(),
		})
	}
	return res, err
}
