package main

import (
	"context"
	"io"
	"os"
	"path"
	"strings"
)

// openInput opens a file argument, "-" meaning stdin.
func openInput(ctx context.Context, e *env, name string) (io.Reader, func(), error) {
	if name == "-" {
		return cancelable(ctx, e.stdin), func() {}, nil
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

// cancelable makes reads from r return ctx's error once ctx is done. A
// read from a terminal or pipe blocks in the kernel and ignores contexts,
// so without this Ctrl-C during `trove add -` would wait for the next
// line of input. A goroutine pumps r through a pipe; on cancellation the
// pipe is closed and the pump is abandoned (it ends with the process).
func cancelable(ctx context.Context, r io.Reader) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		_, err := io.Copy(pw, r)
		pw.CloseWithError(err)
	}()
	go func() {
		<-ctx.Done()
		pr.CloseWithError(ctx.Err())
	}()
	return pr
}
