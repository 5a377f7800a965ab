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
//
// How a fetch works, and why:
//
//   - One long-lived stream per peer (session.go) carries every request to
//     that peer, so a transfer costs no stream setup per block and flow
//     control (byte credit) bounds what a peer can push at us.
//   - The DAG is fetched level by level (lifecycle.go): a level's blocks are
//     all stored, hence verified, before the CIDs they name are requested.
//     For a balanced file this means inner nodes first, then the leaves.
//   - Each level is split into spans of consecutive missing blocks
//     (planSpans); a single coordinator goroutine (list.go) owns all state
//     and asks Schedule, a pure function (schedule.go), who fetches what:
//     pipelines sized by measured throughput, stealing of queued spans
//     from slow peers, and duplicates only in the endgame.
//   - Blocks already in the store are never requested, so a second Fetch
//     after an interruption transfers only the rest.
//   - BlockGetter lets a reader consume the file while it downloads; its
//     on-demand requests are single-block wants, which servers serve ahead
//     of bulk spans.
package transfer
