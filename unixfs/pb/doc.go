// Package pb encodes and decodes the two wire formats UnixFS is made of: the
// dag-pb block (PBNode/PBLink, IPLD dag-pb spec) and the UnixFS Data message
// carried in a PBNode's Data field.
//
// It is hand-written over protowire rather than generated because dag-pb is
// stricter than protobuf: it aims at one encoding per node, so the decoder
// rejects what the spec rejects (out-of-order link fields, unknown fields or
// wire types, duplicate Data, links without Hash or with bad CID bytes,
// trailing garbage) and, beyond the spec, non-minimal varints. Accepting
// more would let two byte strings describe the same node and make
// re-encoding change its CID. The one tolerated deviation is the spec's:
// Data may come before the Links, as some existing IPFS blocks have it; such
// a block decodes fine but Marshal writes the canonical order. Every other
// accepted block re-encodes byte for byte.
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
