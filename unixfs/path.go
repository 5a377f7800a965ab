package unixfs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
)

// ErrBadPath is wrapped by errors about the syntax of a path or name.
var ErrBadPath = errors.New("bad path")

// ParsePath splits "CID", "CID/a/b" or "/ipfs/CID/a/b" into the root CID and
// its components. Every component must be a valid name (see CheckName):
// "a//b", a trailing slash, "." and ".." are errors rather than being
// cleaned, because a path that means something other than what it says is
// how traversal bugs start.
func ParsePath(s string) (cid.Cid, []string, error) {
	rest := s
	if strings.HasPrefix(rest, "/") {
		var ok bool
		if rest, ok = strings.CutPrefix(rest, "/ipfs/"); !ok {
			return cid.Undef, nil, fmt.Errorf("%w: %q: only /ipfs/ paths are supported", ErrBadPath, s)
		}
	}
	root, tail, hasTail := strings.Cut(rest, "/")
	c, err := cid.Decode(root)
	if err != nil {
		return cid.Undef, nil, fmt.Errorf("%w: %q: %w", ErrBadPath, s, err)
	}
	if !hasTail {
		return c, nil, nil
	}
	parts := strings.Split(tail, "/")
	for _, p := range parts {
		if err := CheckName(p); err != nil {
			return cid.Undef, nil, fmt.Errorf("%w: in %q", err, s)
		}
	}
	return c, parts, nil
}

// CheckName reports whether name can be a single directory entry written to
// a local filesystem. It rejects the empty name, "." and "..", and any name
// containing '/' or NUL, which POSIX cannot represent in one component, and
// '\', which Windows treats as a separator: a tree fetched on Linux and
// copied to Windows (or served to a Windows client) must not gain path
// structure it did not have.
func CheckName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty name", ErrBadPath)
	case name == "." || name == "..":
		return fmt.Errorf("%w: name %q", ErrBadPath, name)
	case strings.ContainsAny(name, "/\\\x00"):
		return fmt.Errorf("%w: name %q contains a separator or NUL", ErrBadPath, name)
	}
	return nil
}

// Resolve follows path (components separated by '/', no leading slash;
// "" is root itself) from root through directories and returns the CID it
// names. Symlinks are not followed: a path through one fails with
// ErrNotDir. A missing name wraps block.ErrNotFound and says which prefix
// of the path failed.
func Resolve(ctx context.Context, g block.Getter, root cid.Cid, path string) (cid.Cid, error) {
	if path == "" {
		return root, nil
	}
	parts := strings.Split(path, "/")
	for _, p := range parts {
		if err := CheckName(p); err != nil {
			return cid.Undef, fmt.Errorf("%w: in %q", err, path)
		}
	}
	return ResolveParts(ctx, g, root, parts)
}

// ResolveParts is Resolve over a path already split (by ParsePath).
func ResolveParts(ctx context.Context, g block.Getter, root cid.Cid, parts []string) (cid.Cid, error) {
	cur := root
	for i, name := range parts {
		at := root.String() + "/" + strings.Join(parts[:i+1], "/")
		n, err := getNode(ctx, g, cur)
		if err != nil {
			return cid.Undef, fmt.Errorf("resolve %s: %w", at, err)
		}
		if n.kind != KindDirectory {
			return cid.Undef, fmt.Errorf("resolve %s: %s is a %v: %w", at, cur, n.kind, ErrNotDir)
		}
		e, err := lookup(ctx, g, n, name)
		if err != nil {
			return cid.Undef, fmt.Errorf("resolve %s: %w", at, err)
		}
		cur = e.Cid
	}
	return cur, nil
}
