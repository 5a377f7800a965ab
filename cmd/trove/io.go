package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
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

// outputDir reads get's -o: a value ending in a slash names a directory to
// write into, as it does for cp and rsync when the directory exists. We
// apply that reading whether or not it exists, so the same command line
// always puts the result at the same place; the directory is created when
// missing (made reports that), but not its parents, as a typo there more
// likely means a wrong path than a wish for a new hierarchy. Without a
// trailing slash into is "" and -o names the entry itself.
func outputDir(out string) (into string, made bool, err error) {
	if !strings.HasSuffix(out, "/") && !strings.HasSuffix(out, string(filepath.Separator)) {
		return "", false, nil
	}
	into = filepath.Clean(out)
	if err := os.Mkdir(into, 0o755); err == nil {
		return into, true, nil
	} else if !errors.Is(err, fs.ErrExist) {
		return "", false, err
	}
	fi, err := os.Stat(into)
	if err != nil {
		return "", false, err
	}
	if !fi.IsDir() {
		return "", false, fmt.Errorf("%s is not a directory", into)
	}
	return into, false, nil
}
