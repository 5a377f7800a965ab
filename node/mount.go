package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/fuse"
	"github.com/trove-p2p/trove/node/api"
	"github.com/trove-p2p/trove/unixfs"
)

// MountArgs are the arguments of epMount.
type MountArgs struct {
	// Dir is the mount point, absolute (the daemon's working directory
	// is not the caller's).
	Dir string `json:"Dir"`
	// Timeout bounds each retrieval through the mount; zero means the
	// config's Mount.Timeout.
	Timeout Duration `json:"Timeout,omitempty"`
}

// MountEvent is sent once the mount is live.
type MountEvent struct {
	Dir string `json:"Dir"`
}

// MountResult ends a epMount request: why the mount ended.
type MountResult struct {
	Dir    string `json:"Dir"`
	Reason string `json:"Reason"`
}

// Reasons a mount ended, in MountResult.
const (
	MountEndedByClient   = "unmounted on request"
	MountEndedOutside    = "unmounted from outside (fusermount -u or umount)"
	MountEndedByShutdown = "the daemon is stopping"
)

// Mount serves the content src reaches as a read-only file system at dir
// (package fuse). Offline sources show local content only.
func (n *Node) Mount(dir string, src Source, o fuse.Options) (*fuse.Mountpoint, error) {
	return fuse.Mount(dir, mountSource{n.Content(src)}, o)
}

// mountSource adapts Content to the interface package fuse reads through.
type mountSource struct{ c *Content }

func (s mountSource) Stat(ctx context.Context, k cid.Cid) (unixfs.Entry, error) {
	return s.c.Stat(ctx, k)
}

func (s mountSource) ReadDir(ctx context.Context, k cid.Cid) ([]unixfs.DirEntry, error) {
	return s.c.ReadDir(ctx, k)
}

func (s mountSource) Lookup(ctx context.Context, dir cid.Cid, name string) (unixfs.DirEntry, error) {
	return s.c.Lookup(ctx, dir, name)
}

func (s mountSource) Roots(ctx context.Context) ([]cid.Cid, error) { return s.c.PinnedRoots(ctx) }

func (s mountSource) Open(ctx context.Context, k cid.Cid) (fuse.File, error) {
	// The zero options fetch only what reads touch plus the read-ahead
	// of a sequential reader: a media player seeking through a film
	// must not start a download of all of it.
	f, err := s.c.Open(ctx, k, OpenOptions{})
	if err != nil {
		return nil, err
	}
	return mountFile{f}, nil
}

type mountFile struct{ f *File }

func (m mountFile) ReadAt(ctx context.Context, p []byte, off int64) (int, error) {
	return m.f.ReadAtContext(ctx, p, off)
}

func (m mountFile) ReadSlices(ctx context.Context, off int64, n int) ([][]byte, int, error) {
	return m.f.SlicesContext(ctx, off, n)
}

func (m mountFile) LendSlices(ctx context.Context, off int64, n int) ([][]byte, func(), int, error) {
	return m.f.LendSlices(ctx, off, n)
}

func (m mountFile) Close() error { return m.f.Close() }

// mountTimeout is the config's Mount.Timeout, or the fuse default.
func (n *Node) mountTimeout() (time.Duration, error) {
	return n.repo.Config.Mount.RetrievalTimeout()
}

// mountFor mounts dir for the daemon: content through the daemon's
// network read path, tracked so Close unmounts it before the store goes.
func (d *Daemon) mountFor(dir string, timeout time.Duration) (*fuse.Mountpoint, error) {
	d.mu.Lock()
	closing := d.closing
	d.mu.Unlock()
	if closing {
		return nil, fmt.Errorf("daemon is stopping: %w", context.Canceled)
	}
	if timeout <= 0 {
		t, err := d.node.mountTimeout()
		if err != nil {
			return nil, err
		}
		timeout = t
	}
	m, err := d.node.Mount(dir, Source{}, fuse.Options{Timeout: timeout, Logger: d.log.With("component", "fuse")})
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	if d.closing || d.unmounting {
		d.mu.Unlock()
		m.Unmount()
		return nil, fmt.Errorf("daemon is stopping: %w", context.Canceled)
	}
	d.mounts[m] = struct{}{}
	d.mu.Unlock()
	go func() {
		<-m.Done()
		d.mu.Lock()
		delete(d.mounts, m)
		d.mu.Unlock()
	}()
	return m, nil
}

// startMount mounts the --mount or config directory. A failure is
// logged, never fatal: the daemon's other duties do not depend on it.
func (d *Daemon) startMount(dir string) {
	if dir == "" {
		dir = d.node.repo.Config.Mount.Dir
	}
	if dir == "" {
		return
	}
	m, err := d.mountFor(dir, 0)
	if err != nil {
		d.log.Error("mount failed; the daemon runs on without it", "dir", dir, "err", err)
		return
	}
	go func() {
		<-m.Done()
		d.mu.Lock()
		stopping := d.unmounting
		d.mu.Unlock()
		if !stopping {
			d.log.Warn("the mount was unmounted from outside; the daemon runs on without it", "dir", m.Dir())
		}
	}()
}

// unmountAll ends every mount, before the store they read closes.
func (d *Daemon) unmountAll() {
	d.mu.Lock()
	d.unmounting = true
	ms := make([]*fuse.Mountpoint, 0, len(d.mounts))
	for m := range d.mounts {
		ms = append(ms, m)
	}
	d.mu.Unlock()
	for _, m := range ms {
		if err := m.Unmount(); err != nil {
			d.log.Warn("unmount", "dir", m.Dir(), "err", err)
		}
	}
}

// MountHeld mounts a.Dir and holds the mount while body stays open: the
// client keeps it open while it wants the mount and closes it (Ctrl-C) to
// unmount, and a client that dies drops the connection, which ends ctx.
// Either way the mount is unmounted and the result says why, for a
// client still there to read. emit is told once the mount is live.
func (d *Daemon) MountHeld(ctx context.Context, a MountArgs, body io.Reader, emit func(MountEvent) error) (MountResult, error) {
	if !filepath.IsAbs(a.Dir) {
		return MountResult{}, fmt.Errorf("%w: mount point %q must be an absolute path", api.ErrBadRequest, a.Dir)
	}
	m, err := d.mountFor(a.Dir, time.Duration(a.Timeout))
	if err != nil {
		return MountResult{}, err
	}
	res := MountResult{Dir: m.Dir()}
	if err := emit(MountEvent{Dir: m.Dir()}); err != nil {
		return res, errors.Join(err, m.Unmount())
	}
	released := make(chan struct{})
	go func() {
		io.Copy(io.Discard, body)
		close(released)
	}()
	select {
	case <-released:
		res.Reason = MountEndedByClient
	case <-ctx.Done():
		res.Reason = MountEndedByShutdown
	case <-m.Done():
		res.Reason = MountEndedOutside
		d.mu.Lock()
		if d.unmounting {
			res.Reason = MountEndedByShutdown
		}
		d.mu.Unlock()
	}
	return res, m.Unmount()
}

// mountGrace is how long Remote.Mount waits for the daemon's answer after
// its caller gave up, so the unmount is done before the command exits.
const mountGrace = 10 * time.Second

// Mount asks the daemon to mount a.Dir and holds the mount until ctx ends
// (Ctrl-C), the mount is unmounted from outside, or the daemon stops.
// mounted is called once the mount is live.
func (r *Remote) Mount(ctx context.Context, a MountArgs, mounted func(MountEvent)) (MountResult, error) {
	pr, pw := io.Pipe()
	defer pw.Close()
	// The request must outlive ctx by a little: cancelling it would cut
	// the answer that says the unmount is done.
	reqCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		pw.Close()
		time.AfterFunc(mountGrace, cancel)
	})
	defer stop()
	return epMount.Upload(reqCtx, r.c, a, api.Body{Reader: pr}, func(e MountEvent) error {
		if mounted != nil {
			mounted(e)
		}
		return nil
	})
}
