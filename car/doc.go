// Package car reads and writes CAR v1 archives: a dag-cbor header naming
// the root CIDs, then a stream of (CID, block) sections.
//
// CAR is how a DAG leaves trove as one file and how foreign DAGs enter it,
// so the reader treats its input as hostile: every length is capped before
// anything is allocated from it, every block passes block.Verify before it
// reaches the Putter, and only the codecs the rest of trove can walk (raw
// and dag-pb) are accepted. Errors name the CID and the byte offset of the
// section so a broken archive can be inspected with a hex dump.
//
// The writer streams: it holds a set of the multihashes it has written and
// a stack of CIDs still to visit, never the blocks themselves.
package car
