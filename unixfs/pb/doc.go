// Package pb encodes and decodes the two wire formats UnixFS is made of: the
// dag-pb block (PBNode/PBLink, IPLD dag-pb spec) and the UnixFS Data message
// carried in a PBNode's Data field.
//
// It is hand-written over protowire rather than generated because dag-pb is
// stricter than protobuf: a block has exactly one valid encoding, so the
// decoder rejects what the spec rejects (out-of-order or unknown fields,
// duplicate Data, links without Hash, trailing garbage). Accepting a
// non-canonical block would let two byte strings describe the same node and
// make re-encoding change its CID. Every accepted Node therefore re-encodes
// byte for byte.
//
// The UnixFS Data message is ordinary proto2 and is decoded with protobuf's
// usual leniency (any field order, packed or unpacked blocksizes, unknown
// fields skipped), because other implementations write it with stock
// protobuf libraries and a reader must accept what they produce. Its
// Marshal writes the canonical form Kubo writes.
//
// Both decoders refuse inputs larger than block.MaxSize so that one hostile
// message cannot cost more than one block.
package pb
