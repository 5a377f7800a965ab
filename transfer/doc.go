// Package transfer implements /trove/transfer/1.0.0, trove's block-exchange
// protocol, and the two halves that speak it: a Server that streams blocks
// out of a local store, and a Fetcher that pulls a whole DAG from every peer
// that has it at once.
//
// The wire format is specified in docs/protocol.md; codec.go is the only
// file that knows the byte layout. Everything a peer sends is untrusted:
// every length is capped before allocation, and every block passes
// block.Verify against a CID the requester chose (or a verified parent
// named) before it is stored or handed to a caller.
package transfer
