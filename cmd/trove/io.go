package main

import (
	"io"
	"os"
	"path"
	"strings"
)

// openInput opens a file argument, "-" meaning stdin.
func openInput(e *env, name string) (io.Reader, func(), error) {
	if name == "-" {
		return e.stdin, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

// defaultOutName names get's output after the last component of the CID
// path, as Kubo does: "bafy.../a/b.txt" becomes "b.txt", a bare CID
// becomes the CID.
func defaultOutName(p string) string {
	p = strings.TrimPrefix(p, "/ipfs/")
	p = strings.TrimRight(p, "/")
	return path.Base(p)
}
