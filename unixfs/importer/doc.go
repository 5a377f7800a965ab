// Package importer turns byte streams and directory trees into UnixFS DAGs
// whose CIDs match what Kubo produces for the same parameters, so content
// added to trove is addressable by the same CIDs as in the IPFS network.
//
// Parameters come from named profiles (IPIP-499's unixfs-v1-2025, the
// default, and the legacy unixfs-v0-2015) with Kubo-style overrides; see
// ParamsFor. Files are cut into fixed-size chunks and laid out as Kubo's
// balanced DAG. Hashing is the expensive part, so chunks are hashed by one
// worker per core while a single goroutine assembles the tree in order;
// bounded queues keep memory at a few chunks per core for any file size.
//
// Directories are built by a DirBuilder that accepts entries in any order
// (a file-system walk or a tar stream) and encodes directories only at
// Finish, switching to a HAMT shard exactly where Kubo would.
//
// Blocks leave through the Putter sink; a nil sink computes CIDs only.
package importer
