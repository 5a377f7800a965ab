// Package blockstore is trove's persistent block store: Badger v4 keyed by
// multihash, with pins and a garbage collector that is safe to run while
// imports and downloads are writing.
//
// Blocks are keyed by multihash rather than CID so that the same bytes named
// as CIDv0, CIDv1 dag-pb or CIDv1 raw are stored once; iteration therefore
// yields multihashes, and callers that need a CID use a raw CIDv1.
//
// GC safety rests on three rules (docs/blockstore.md explains why they are
// enough): blocks written through an open Session are roots; blocks written
// while a GC runs are never swept by that GC; and every sweep deletion is a
// Badger transaction that read the key first, so a concurrent write of the
// same key makes the deletion fail with a conflict instead of winning.
package blockstore
