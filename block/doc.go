// Package block is trove's small shared vocabulary: the errors every layer
// agrees on, the role interfaces that storage and network code implement, and
// the single place where a block's bytes are checked against its CID.
//
// It imports nothing of trove's, so every other package can depend on it
// without cycles. Keep it tiny: a type belongs here only when at least two
// packages must agree on it.
package block
