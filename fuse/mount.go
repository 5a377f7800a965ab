//go:build linux

package fuse

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	gofuse "github.com/hanwen/go-fuse/v2/fuse"
)

// fsType is what /proc/mounts and `df -T` show for a trove mount.
const fsType = "fuse.trove"

// Mountpoint is a live mount. Unmount it when done; Done tells when it
// ended, whoever ended it.
type Mountpoint struct {
	dir     string
	c       Content
	log     *slog.Logger
	timeout time.Duration
	server  *gofuse.Server
	since   time.Time
	uid     uint32
	gid     uint32

	// ctx spans the mount: open files live in it and every call derives
	// from it, so Unmount ends whatever still waits on the network.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}

	unmountOnce sync.Once
	unmountErr  error

	// loans are the replies whose bytes are still borrowed (see
	// SliceLender), each with the handle that read it. go-fuse returns
	// a reply's loan once it is written; one it never writes (an
	// interrupted read) is returned when its file is released or the
	// mount ends, since a loan holds a value-log file of the store.
	loansMu sync.Mutex
	loans   map[*lentResult]*handle
	// loansEnded is set once the mount's loans were returned for good;
	// a loan made after that is returned at once.
	loansEnded bool
}

// Mount serves c read-only at dir and returns once the kernel has the
// mount. As root it mounts directly; otherwise through fusermount3 (or
// fusermount). A stale trove mount at dir (its process was killed) is
// detached first; every other obstacle is an error that says what to do.
func Mount(dir string, c Content, o Options) (*Mountpoint, error) {
	o = o.withDefaults()
	log := o.Logger
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := preflight(abs, log); err != nil {
		return nil, err
	}
	m := &Mountpoint{
		dir: abs, c: c, log: log, timeout: o.Timeout, since: time.Now(),
		uid: uint32(os.Getuid()), gid: uint32(os.Getgid()), done: make(chan struct{}),
		loans: make(map[*lentResult]*handle),
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	opts := m.options(o)
	server, err := gofuse.NewServer(gofs.NewNodeFS(&rootNode{m: m}, opts), abs, &opts.MountOptions)
	if err != nil {
		m.cancel()
		return nil, mountError(abs, err)
	}
	m.server = server
	go server.Serve()
	if err := server.WaitMount(); err != nil {
		m.cancel()
		// The kernel may hold a half-made mount; leave nothing behind.
		detach(abs)
		return nil, mountError(abs, err)
	}
	m.tuneReadahead()
	go func() {
		// Wait returns once the kernel closed the connection: our own
		// Unmount, or an outside `fusermount -u`.
		server.Wait()
		m.cancel()
		m.returnLoans(nil)
		close(m.done)
	}()
	log.Info("mounted", "dir", abs)
	return m, nil
}

// cache lifetimes. Content never changes under a CID, so what the kernel
// learnt about it may be kept as long as it likes; only the top directory
// changes (pins come and go, a CID that was nowhere may appear later).
const (
	contentTTL     = 24 * time.Hour
	rootNegTTL     = 2 * time.Second
	maxRead        = 1 << 20
	maxBackground  = 64
	statfsBlock    = 4096
	preferredBlock = 128 << 10
)

func (m *Mountpoint) options(o Options) *gofs.Options {
	ttl, neg := contentTTL, rootNegTTL
	flags := uintptr(syscall.MS_RDONLY | syscall.MS_NOSUID | syscall.MS_NODEV)
	return &gofs.Options{
		MountOptions: gofuse.MountOptions{
			FsName: "trove",
			Name:   "trove",
			// ro makes the kernel answer every write, create, rename,
			// chmod with EROFS itself; the nodes say EROFS too in case
			// a request gets through anyway.
			Options:          []string{"ro"},
			DirectMount:      os.Geteuid() == 0,
			DirectMountFlags: flags,
			// Large requests and read-ahead are most of the speed: a
			// FUSE round trip per 4 KiB page would be far below cat.
			MaxWrite:     maxRead,
			MaxReadAhead: maxRead,
			// Concurrent readers and the kernel's async read-ahead
			// share this; the default 12 throttled 16 readers.
			MaxBackground: maxBackground,
			SyncRead:      true,
			// Plain READDIR lists a remote directory from its own
			// blocks; READDIRPLUS would fetch every child's root.
			DisableReadDirPlus: true,
			// Replies come from memory, never from a file descriptor;
			// go-fuse's splice attempt would cost a pipe and three
			// syscalls per read before falling back to writev.
			DisableSplice:            true,
			IgnoreSecurityLabels:     true,
			EnableSymlinkCaching:     true,
			ExplicitDataCacheControl: true,
			Debug:                    o.Debug,
			Logger:                   log.New(slogWriter{m.log, slog.LevelDebug}, "", 0),
		},
		EntryTimeout:    &ttl,
		AttrTimeout:     &ttl,
		NegativeTimeout: &neg,
		UID:             m.uid,
		GID:             m.gid,
		Logger:          log.New(slogWriter{m.log, slog.LevelWarn}, "", 0),
	}
}

// tuneReadahead raises the kernel's read-ahead for this mount to
// maxRead. FUSE starts every mount at the block layer's default (128 KiB)
// and INIT can only lower it, so sequential reads would arrive in 128 KiB
// requests, each a round trip through this server; 1 MiB requests are
// what brings a read through the mount near `trove cat`. Only root may
// write the setting; for others the mount works at the default.
func (m *Mountpoint) tuneReadahead() {
	var st syscall.Stat_t
	if err := syscall.Stat(m.dir, &st); err != nil {
		return
	}
	major, minor := (st.Dev>>8)&0xfff|(st.Dev>>32)&^0xfff, st.Dev&0xff|(st.Dev>>12)&^0xff
	p := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", major, minor)
	if err := os.WriteFile(p, []byte(strconv.Itoa(maxRead>>10)), 0o644); err != nil {
		m.log.Debug("kernel read-ahead left at its default", "dir", m.dir, "err", err)
	}
}

// Dir is the absolute mount point.
func (m *Mountpoint) Dir() string { return m.dir }

// Done is closed once the mount is gone: after Unmount, or when someone
// unmounted it from outside (fusermount -u, umount).
func (m *Mountpoint) Done() <-chan struct{} { return m.done }

// unmountWait bounds how long Unmount waits for the kernel to let go.
const unmountWait = 5 * time.Second

// Unmount ends the mount. A busy mount (a shell's working directory, a
// file still open) is detached lazily: it disappears from the tree at
// once and its last users get errors, rather than the caller hanging or
// the mount outliving the process that serves it. Calls after the first
// return its result.
func (m *Mountpoint) Unmount() error {
	m.unmountOnce.Do(func() {
		select {
		case <-m.done:
			return // unmounted from outside
		default:
		}
		m.cancel() // in-flight calls end with EIO instead of waiting
		err := unmount(m.dir, false)
		if err != nil {
			m.log.Warn("mount busy, detaching it lazily", "dir", m.dir, "err", err)
			if lerr := unmount(m.dir, true); lerr != nil {
				m.unmountErr = fmt.Errorf("unmount %s: %w (lazy: %v)", m.dir, err, lerr)
				return
			}
		}
		select {
		case <-m.done:
			m.log.Info("unmounted", "dir", m.dir)
		case <-time.After(unmountWait):
			// A lazily detached mount lives on while files in it are
			// open; the server keeps failing their reads with EIO
			// (m.ctx is cancelled) until they are closed.
			m.unmountErr = fmt.Errorf("unmount %s: detached, but files in it are still open", m.dir)
		}
	})
	return m.unmountErr
}

// unmount asks the kernel to drop dir, lazily (MNT_DETACH) if lazy.
func unmount(dir string, lazy bool) error {
	if os.Geteuid() == 0 {
		flags := 0
		if lazy {
			flags = syscall.MNT_DETACH
		}
		if err := syscall.Unmount(dir, flags); err == nil || !errors.Is(err, syscall.EPERM) {
			return err
		}
	}
	bin, err := fusermount()
	if err != nil {
		return err
	}
	args := []string{"-u"}
	if lazy {
		args = append(args, "-z")
	}
	out, err := exec.Command(bin, append(args, dir)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", bin, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// detach drops whatever is mounted at dir, lazily; for cleaning up.
func detach(dir string) error { return unmount(dir, true) }

func fusermount() (string, error) {
	for _, name := range []string{"fusermount3", "fusermount"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: neither fusermount3 nor fusermount is installed (install the fuse3 package, or mount as root)", ErrNoFUSE)
}

// preflight turns the ways a mount commonly fails into errors that say
// what to do, before the kernel or fusermount gives a terse one.
func preflight(dir string, log *slog.Logger) error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("%w: /dev/fuse: %v (load the fuse kernel module; in a container, pass --device /dev/fuse)", ErrNoFUSE, err)
	}
	if os.Geteuid() != 0 {
		if _, err := fusermount(); err != nil {
			return err
		}
	}
	// A cached stat can hide a dead FUSE mount; listing the directory
	// always reaches the server, or learns there is none.
	fi, err := os.Stat(dir)
	if err == nil && fi.IsDir() {
		err = listOne(dir)
	}
	if errors.Is(err, syscall.ENOTCONN) {
		typ, _ := mountType(dir)
		if typ != fsType {
			return fmt.Errorf("%w at %s (%s, transport endpoint is not connected): its server died without unmounting; run `fusermount3 -u %s` and try again", ErrStale, dir, typ, dir)
		}
		log.Warn("clearing a stale trove mount left by a process that was killed", "dir", dir)
		if err := detach(dir); err != nil {
			return fmt.Errorf("%w at %s: could not detach it: %v; run `fusermount3 -u -z %s`", ErrStale, dir, err, dir)
		}
	}
	fi, err = os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("mount point %s does not exist (create it first, e.g. mkdir -p %s): %w", dir, dir, fs.ErrNotExist)
	case err != nil:
		return fmt.Errorf("mount point: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("mount point %s is not a directory: %w", dir, syscall.ENOTDIR)
	}
	if typ, ok := mountType(dir); ok {
		return fmt.Errorf("%w: %s is already a mount point (%s); unmount it first (fusermount3 -u %s)", ErrBusy, dir, typ, dir)
	}
	switch err := listOne(dir); {
	case errors.Is(err, errNotEmpty):
		return fmt.Errorf("%w: %s is not empty, and mounting would hide its files; use an empty directory", ErrBusy, dir)
	case err != nil:
		return fmt.Errorf("mount point: %w", err)
	}
	return nil
}

var errNotEmpty = errors.New("directory not empty")

// listOne reads one name of dir: errNotEmpty if there is one, nil if
// there is none.
func listOne(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	names, err := d.Readdirnames(1)
	switch {
	case len(names) > 0:
		return errNotEmpty
	case errors.Is(err, io.EOF):
		return nil
	}
	return err
}

// mountError adds the mount point and a hint to the kernel's or
// fusermount's words.
func mountError(dir string, err error) error {
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) || strings.Contains(err.Error(), "fusermount") {
		// fusermount has printed its own reason on stderr already.
		return fmt.Errorf("mount %s: %w (as a normal user, mounting needs fusermount3 from fuse3, installed setuid root, and write access to the directory)", dir, trimmed{err})
	}
	return fmt.Errorf("mount %s: %w", dir, trimmed{err})
}

// trimmed drops the newline go-fuse ends some of its errors with.
type trimmed struct{ error }

func (t trimmed) Error() string { return strings.TrimSpace(t.error.Error()) }
func (t trimmed) Unwrap() error { return t.error }

// mountType reports the file-system type mounted at dir, from
// /proc/self/mountinfo.
func mountType(dir string) (string, bool) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", false
	}
	defer f.Close()
	return findMount(f, dir)
}

// findMount scans mountinfo text (proc(5)) for the last mount at dir; the
// last one is on top.
func findMount(r io.Reader, dir string) (typ string, ok bool) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		pre, post, found := strings.Cut(sc.Text(), " - ")
		fields, rest := strings.Fields(pre), strings.Fields(post)
		if !found || len(fields) < 5 || len(rest) < 1 {
			continue
		}
		if unescapeMountinfo(fields[4]) == dir {
			typ, ok = rest[0], true
		}
	}
	return typ, ok
}

// unescapeMountinfo undoes the kernel's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// slogWriter carries go-fuse's log.Logger lines into the mount's logger.
type slogWriter struct {
	l     *slog.Logger
	level slog.Level
}

func (w slogWriter) Write(p []byte) (int, error) {
	w.l.Log(context.Background(), w.level, strings.TrimSpace(string(p)), "component", "fuse")
	return len(p), nil
}
