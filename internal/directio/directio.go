// Package directio writes the large, aligned spans of an output file with
// O_DIRECT, around the page cache, and the rest through the page cache as
// usual.
//
// Why: a get writes each output byte once and does not read it back, yet a
// buffered write(2) makes the kernel find, zero and fill a fresh page-cache
// page for every 4 KiB and write it back later. On the 2-core machines trove
// is measured on that was ~2 CPU s per GiB of the fetching daemon's ~8,
// against ~0.2 s for the same bytes written direct (dd oflag=direct: 0.18 s
// CPU against 0.6-0.7 s for dd conv=fdatasync, docs/performance.md). The
// cost: a direct write returns once the device has the bytes, so the writer
// waits for the disk instead of for memory, and a file system that cannot do
// it (tmpfs before Linux 6.6, some FUSE file systems) is written buffered.
package directio

import (
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// MinSize is the smallest file worth writing direct: below it the page
// cache's batching of small files wins, and a tree of many small files
// must not wait for the disk once per file.
const MinSize = 8 << 20

// writerAt is the direct descriptor's one method, a seam for tests that
// make it fail as a file system without O_DIRECT support does.
type writerAt interface {
	WriteAt(p []byte, off int64) (int, error)
}

// File writes one file through two descriptors: the caller's buffered one
// and, where the file system allows, a second one opened with O_DIRECT.
// It is safe for concurrent WriteAt calls at disjoint ranges.
type File struct {
	f *os.File // buffered; the caller's, never closed here

	mu     sync.Mutex
	d      writerAt // O_DIRECT; nil when unavailable or given up
	closer func() error
	// memAlign and offAlign are what the file system asks of a direct
	// write's buffer address and of its offset and length.
	memAlign, offAlign int

	direct atomic.Int64
}

// Open returns a writer over f that writes what it can direct. It never
// fails: without O_DIRECT every write goes through f.
func Open(f *os.File) *File {
	w := &File{f: f}
	if d, mem, off, err := openDirect(f); err == nil {
		w.d, w.closer = d, d.Close
		w.memAlign, w.offAlign = mem, off
	}
	return w
}

// Direct is the number of bytes written around the page cache so far.
func (w *File) Direct() int64 { return w.direct.Load() }

// Close closes the direct descriptor; f stays open.
func (w *File) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.d = nil
	if c := w.closer; c != nil {
		w.closer = nil
		return c()
	}
	return nil
}

// bounceSize is the unit in which a buffer at an unaligned address is
// copied into an aligned one for a direct write. The copy costs far less
// than the page-cache write it replaces.
const bounceSize = 1 << 20

var bounces = sync.Pool{New: func() any { return new([]byte) }}

// WriteAt writes p at off: the span from the first aligned offset to the
// last whole aligned unit direct, the ragged ends buffered.
func (w *File) WriteAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	d, ma, oa := w.d, w.memAlign, w.offAlign
	w.mu.Unlock()
	if d == nil || len(p) < oa {
		return w.f.WriteAt(p, off)
	}
	total := 0
	// The head up to the first aligned offset.
	if r := int(off % int64(oa)); r != 0 {
		n := min(oa-r, len(p))
		m, err := w.f.WriteAt(p[:n], off)
		total += m
		if err != nil {
			return total, err
		}
		p, off = p[n:], off+int64(n)
	}
	body := len(p) - len(p)%oa
	for done := 0; done < body; {
		chunk := p[done:body]
		src := chunk
		var bounce *[]byte
		if uintptrOf(chunk)%uintptr(ma) != 0 {
			bounce = bounces.Get().(*[]byte)
			if len(*bounce) == 0 {
				*bounce = Aligned(bounceSize, max(ma, oa))
			}
			n := min(len(chunk), bounceSize)
			src = (*bounce)[:copy(*bounce, chunk[:n])]
		}
		m, err := d.WriteAt(src, off+int64(done))
		if bounce != nil {
			bounces.Put(bounce)
		}
		if errors.Is(err, syscall.EINVAL) {
			// The file system refused after all (it accepted the open
			// but not this write): go on buffered, from here on for good.
			w.giveUp(d)
			m, err = w.f.WriteAt(chunk[:len(src)], off+int64(done))
		} else if m > 0 {
			w.direct.Add(int64(m))
		}
		done += m
		total += m
		if err != nil {
			return total, err
		}
	}
	if body < len(p) {
		m, err := w.f.WriteAt(p[body:], off+int64(body))
		total += m
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (w *File) giveUp(d writerAt) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.d == d {
		w.d = nil
	}
}

// Aligned returns n bytes whose address is a multiple of align (a power
// of two).
func Aligned(n, align int) []byte {
	b := make([]byte, n+align)
	skip := (align - int(uintptrOf(b)%uintptr(align))) % align
	return b[skip : skip+n : skip+n]
}

// Seq writes a file in order from offset 0, behind its producer: each
// Write is copied into one of a few aligned buffers and written by a
// goroutine of its own, so the producer assembles the next piece while the
// disk takes this one. A direct write returns only once the device has the
// bytes; written in line, a get's writer fell a second behind its download
// (docs/performance.md). A write error is returned by a later Write and by
// Close, which waits for everything queued and must be called.
type Seq struct {
	w     *File
	off   int64
	free  chan []byte
	q     chan piece
	done  chan struct{}
	err   error // the first write error; read after done or under errMu
	errMu sync.Mutex
}

type piece struct {
	b   []byte
	off int64
}

// seqDepth is how many pieces may wait for the disk, and seqWriters how
// many are written at once, so the device has the next request while it
// finishes one. Each piece is a 1 MiB buffer of the daemon's RSS.
const (
	seqDepth   = 4
	seqWriters = 2
)

// NewSeq returns a Seq over w.
func NewSeq(w *File) *Seq {
	s := &Seq{w: w, free: make(chan []byte, seqDepth), q: make(chan piece, seqDepth), done: make(chan struct{})}
	for range seqDepth {
		s.free <- nil // allocated on first use: a small file needs one
	}
	var wg sync.WaitGroup
	for range seqWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.run()
		}()
	}
	go func() {
		wg.Wait()
		close(s.done)
	}()
	return s
}

func (s *Seq) run() {
	for p := range s.q {
		if s.failed() == nil {
			if _, err := s.w.WriteAt(p.b, p.off); err != nil {
				s.errMu.Lock()
				if s.err == nil {
					s.err = err
				}
				s.errMu.Unlock()
			}
		}
		s.free <- p.b[:cap(p.b)]
	}
}

func (s *Seq) failed() error {
	s.errMu.Lock()
	defer s.errMu.Unlock()
	return s.err
}

func (s *Seq) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if err := s.failed(); err != nil {
			return n, err
		}
		b := <-s.free
		if b == nil {
			b = Aligned(bounceSize, 1<<16)
		}
		m := copy(b, p[n:])
		s.q <- piece{b[:m], s.off}
		s.off += int64(m)
		n += m
	}
	return n, nil
}

// Close waits for the queued writes and returns the first error.
func (s *Seq) Close() error {
	close(s.q)
	<-s.done
	return s.err
}

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }
