// Package unixfs reads UnixFS DAGs: it answers what a CID is (Stat), reads
// files with random access (NewFile), lists and searches directories
// including HAMT-sharded ones (ReadDir, Lookup), resolves paths (Resolve,
// ParsePath) and writes a file or a whole tree to the local filesystem
// (WriteTo).
//
// Everything reads blocks through a block.Getter, which may be a local
// store or a network fetcher: readers load only the blocks they need,
// fetch ahead when access is sequential, and never hold a whole file in
// memory. The getter is trusted to return bytes that match their CID (trove
// verifies at the store and network boundaries), but the structure those
// bytes describe is not trusted: sizes that disagree, names that would
// escape a directory, and absurd depths are errors, never crashes or
// writes outside the target.
package unixfs
