package node

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"strings"
)

// ErrBadTar marks a tar add stream that cannot be read or holds an entry
// an add cannot represent.
var ErrBadTar = errors.New("bad tar add stream")

// paxUnnamed marks the unnamed stream (stdin) in a tar add stream; tar has
// no empty names, and a reserved file name could collide with a real one.
const paxUnnamed = "TROVE.unnamed"

// paxPath names, instead of carrying its bytes, a local file the daemon
// is to read itself (AddOptions.LocalFiles): an absolute path on the
// daemon's own machine.
const paxPath = "TROVE.path"

// ErrReadRefused is the daemon declining to read local files an add names
// by path: only a process of its own user, on its unix socket, may ask,
// since only there do the client's paths name the daemon's files. The
// client then sends the bytes instead.
var ErrReadRefused = errors.New("the daemon reads local files only for its own user on its unix socket")

// WriteTar serialises an add stream as a tar archive, the form a remote CLI
// sends to the daemon's add endpoint. Only what Add uses is kept (paths,
// kinds, contents, symlink targets); modes and times are not. Files whose
// Content has no known length are buffered in memory to learn it, as tar
// needs sizes up front; local files (*os.File) and readers with a Len or
// Stat method are streamed.
func WriteTar(w io.Writer, entries iter.Seq2[Entry, error]) error {
	return writeTar(w, entries, false)
}

// writeTar is WriteTar; with byPath, a file whose Content is an open
// local file (as FileEntries gives) goes as its absolute path alone.
func writeTar(w io.Writer, entries iter.Seq2[Entry, error], byPath bool) error {
	tw := tar.NewWriter(w)
	for e, err := range entries {
		if err != nil {
			return err
		}
		h := &tar.Header{Name: e.Path, Mode: 0o644, Format: tar.FormatPAX}
		if e.Path == "" {
			if e.Kind != EntryFile {
				return fmt.Errorf("%w: unnamed entry that is not a file", ErrBadTar)
			}
			h.Name = stdinName
			h.PAXRecords = map[string]string{paxUnnamed: "1"}
		}
		var body io.Reader
		switch e.Kind {
		case EntryDir:
			h.Typeflag, h.Name, h.Mode = tar.TypeDir, e.Path+"/", 0o755
		case EntrySymlink:
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, e.Target, 0o777
		case EntryFile:
			h.Typeflag = tar.TypeReg
			if f, ok := e.Content.(interface{ Name() string }); ok && byPath && e.Path != "" && filepath.IsAbs(f.Name()) {
				h.PAXRecords = map[string]string{paxPath: f.Name()}
				break
			}
			size, r, err := sized(e.Content)
			if err != nil {
				return fmt.Errorf("%s: %w", e.Path, err)
			}
			h.Size, body = size, r
		default:
			return fmt.Errorf("%w: %s: unknown kind %d", ErrBadTar, e.Path, e.Kind)
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if body != nil {
			if n, err := io.Copy(tw, body); err != nil {
				return fmt.Errorf("%s: %w", e.Path, err)
			} else if n != h.Size {
				return fmt.Errorf("%s: changed size while being read (%d of %d bytes)", e.Path, n, h.Size)
			}
		}
	}
	return tw.Close()
}

// sized learns a reader's remaining length without reading it when it can.
func sized(r io.Reader) (int64, io.Reader, error) {
	switch v := r.(type) {
	case nil:
		return 0, nil, nil
	case interface{ Len() int }:
		return int64(v.Len()), r, nil
	}
	if f, ok := r.(interface{ Stat() (fs.FileInfo, error) }); ok {
		st, err := f.Stat()
		if err == nil && st.Mode().IsRegular() {
			if s, ok := r.(io.Seeker); ok {
				off, err := s.Seek(0, io.SeekCurrent)
				if err == nil {
					return st.Size() - off, r, nil
				}
			}
		}
	}
	b, err := io.ReadAll(r)
	return int64(len(b)), strings.NewReader(string(b)), err
}

// openNamed opens the local regular file a tar entry names by path.
func openNamed(p string, local bool) (*os.File, error) {
	if !local {
		return nil, ErrReadRefused
	}
	if !filepath.IsAbs(p) {
		return nil, fmt.Errorf("%w: local path %q is not absolute", ErrBadTar, p)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = fmt.Errorf("%w (%v)", ErrSpecialFile, st.Mode().Type())
		}
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return f, nil
}

// TarEntries reads a tar archive as an add stream: regular files, directories
// and symlinks, paths relative as written. Each file's Content is valid
// only until the consumer asks for the next entry, which is how Add reads
// it. Hard links, devices and FIFOs fail with ErrBadTar (UnixFS has no
// form for them); PAX and GNU metadata records are consumed by archive/tar.
func TarEntries(r io.Reader) iter.Seq2[Entry, error] {
	return tarEntries(r, false)
}

// tarEntries is TarEntries; with local, a file named by path (paxPath) is
// opened here and read as the entry's content, otherwise such a file is
// ErrReadRefused.
func tarEntries(r io.Reader, local bool) iter.Seq2[Entry, error] {
	return func(yield func(Entry, error) bool) {
		tr := tar.NewReader(r)
		var open *os.File // the file named by the current entry
		defer func() {
			if open != nil {
				open.Close()
			}
		}()
		for {
			if open != nil {
				open.Close()
				open = nil
			}
			h, err := tr.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				yield(Entry{}, fmt.Errorf("%w: %w", ErrBadTar, err))
				return
			}
			name := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
			if name == "" || name == "." {
				// The archive's own root ("./"): nothing to record.
				continue
			}
			var e Entry
			switch h.Typeflag {
			case tar.TypeReg:
				e = Entry{Path: name, Kind: EntryFile, Content: tr}
				if h.PAXRecords[paxUnnamed] == "1" {
					e.Path = ""
				}
				if p, ok := h.PAXRecords[paxPath]; ok {
					f, err := openNamed(p, local)
					if err != nil {
						yield(Entry{}, fmt.Errorf("%s: %w", name, err))
						return
					}
					open, e.Content = f, f
				}
			case tar.TypeDir:
				e = Entry{Path: name, Kind: EntryDir}
			case tar.TypeSymlink:
				e = Entry{Path: name, Kind: EntrySymlink, Target: h.Linkname}
			default:
				yield(Entry{}, fmt.Errorf("%w: %s: tar type %q", ErrBadTar, name, h.Typeflag))
				return
			}
			if !yield(e, nil) {
				return
			}
		}
	}
}
