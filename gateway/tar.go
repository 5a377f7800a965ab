package gateway

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/trove-p2p/trove/unixfs"
)

// maxTarEntries bounds the names a TAR response lists before it starts,
// since they are checked (and held) up front.
const maxTarEntries = 1 << 20

var errTarName = errors.New("entry name cannot be written to a tar archive safely")

type tarEntry struct {
	name   string
	c      cid.Cid
	kind   unixfs.Kind
	target string
	size   uint64
}

// serveTar answers ?format=tar: the file or tree as a tar archive whose
// top entry is named by the CID. Every name is checked before the first
// byte is sent, so a DAG with names such as ".." fails with an error
// status instead of a truncated archive.
func (h *Handler) serveTar(q *request) {
	res, err := h.resolve(q)
	if err != nil {
		h.fail(q, err)
		return
	}
	q.setPathHeaders(res)
	etag := `W/"` + res.target.String() + `.x-tar"`
	if q.notModified(etag) {
		return
	}
	var entries []tarEntry
	if err := h.tarList(q, res.target, res.target.String(), &entries, 0); err != nil {
		h.fail(q, err)
		return
	}
	if err := throughSymlink(entries); err != nil {
		h.fail(q, err)
		return
	}
	q.attachmentHeaders("application/x-tar", etag, res.target.String()+".tar")
	if q.r.Method == http.MethodHead {
		return
	}
	bw := bufio.NewWriterSize(q.w, 64<<10)
	tw := tar.NewWriter(bw)
	for _, e := range entries {
		th := &tar.Header{Name: e.name, Format: tar.FormatPAX}
		switch e.kind {
		case unixfs.KindDirectory:
			th.Typeflag, th.Mode, th.Name = tar.TypeDir, 0o755, e.name+"/"
		case unixfs.KindSymlink:
			th.Typeflag, th.Mode, th.Linkname = tar.TypeSymlink, 0o777, e.target
		default:
			th.Typeflag, th.Mode, th.Size = tar.TypeReg, 0o644, int64(e.size)
		}
		if err := tw.WriteHeader(th); err != nil {
			abort(h, q, err)
		}
		if th.Typeflag != tar.TypeReg {
			continue
		}
		f, err := q.content.Open(q.r.Context(), e.c, true)
		if err != nil {
			abort(h, q, err)
		}
		_, err = io.Copy(tw, f)
		f.Close()
		if err != nil {
			abort(h, q, err)
		}
	}
	if err := tw.Close(); err != nil {
		abort(h, q, err)
	}
	bw.Flush()
}

// tarList collects the tree under c in archive order, checking names.
func (h *Handler) tarList(q *request, c cid.Cid, name string, out *[]tarEntry, depth int) error {
	if depth > maxWalkDepth {
		return fmt.Errorf("%w: %s: tree deeper than %d", errBadRequest, name, maxWalkDepth)
	}
	if len(*out) >= maxTarEntries {
		return fmt.Errorf("%w: more than %d entries; fetch it as a CAR instead", errBadRequest, maxTarEntries)
	}
	e, err := unixfs.Stat(q.r.Context(), q.content, c)
	if err != nil {
		return err
	}
	*out = append(*out, tarEntry{name: name, c: c, kind: e.Kind, target: e.Target, size: e.Size})
	if e.Kind != unixfs.KindDirectory {
		return nil
	}
	list, err := unixfs.ReadDir(q.r.Context(), q.content, c)
	if err != nil {
		return err
	}
	for _, d := range list {
		full, err := tarPath(name, d.Name)
		if err != nil {
			return err
		}
		if err := h.tarList(q, d.Cid, full, out, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// throughSymlink refuses an archive in which an entry lies under a path
// that is a symlink in the same archive ("link" -> /etc, then "link/x"):
// names with separators are allowed (see tarPath), and a naive extractor
// would write such an entry wherever the link points.
func throughSymlink(entries []tarEntry) error {
	links := map[string]bool{}
	for _, e := range entries {
		if e.kind == unixfs.KindSymlink {
			links[e.name] = true
		}
	}
	if len(links) == 0 {
		return nil
	}
	for _, e := range entries {
		for p := path.Dir(e.name); p != "." && p != "/"; p = path.Dir(p) {
			if links[p] {
				return fmt.Errorf("%w: %w: %q lies under the symlink %q", errBadRequest, errTarName, e.name, p)
			}
		}
	}
	return nil
}

// tarPath joins a directory's archive path and an entry name. Names with
// separators are allowed as long as the cleaned result stays inside the
// archive's top directory (Kubo writes such DAGs); anything that would
// escape it, and names no file system can hold, fail the whole response.
func tarPath(dir, name string) (string, error) {
	top, _, _ := strings.Cut(dir, "/")
	full := path.Clean(dir + "/" + name)
	if name == "" || name == "." || strings.ContainsAny(name, "\x00\\") || !strings.HasPrefix(full, top+"/") {
		return "", fmt.Errorf("%w: %w: %q in %s", errBadRequest, errTarName, name, dir)
	}
	return full, nil
}
