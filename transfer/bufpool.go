package transfer

import (
	"bufio"
	"fmt"
	"io"
	"sync"
)

// Receive buffers. A fetch at full speed reads a megabyte frame every
// millisecond or so; allocating each one fresh cost about a fifth of the
// receiver's CPU in profiles (clearing the new memory, copying into pages
// the cache has never seen, and the garbage collection that follows).
// Frames whose blocks the Fetcher has stored, and so no longer needs, come
// back here instead.

// poolClass is the granularity of the pool's size classes. A class holds
// buffers of exactly k*poolClass bytes, so a 1 MiB block plus its header
// wastes under 64 KiB.
const poolClass = 64 << 10

// minPooled: smaller frames are cheap to allocate and usually not blocks.
const minPooled = poolClass

// framePool is a set of sync.Pools, one per size class up to MaxFrame. The
// zero value is ready to use.
type framePool struct {
	classes [MaxFrame/poolClass + 2]sync.Pool
}

func classOf(n int) int { return (n + poolClass - 1) / poolClass }

// get returns a slice of length n, from the pool when n is large.
func (p *framePool) get(n int) (buf []byte, pooled *[]byte) {
	if n < minPooled || n > MaxFrame {
		return make([]byte, n), nil
	}
	k := classOf(n)
	if v, ok := p.classes[k].Get().(*[]byte); ok {
		return (*v)[:n], v
	}
	b := make([]byte, k*poolClass)
	return b[:n], &b
}

// put gives back a buffer from get. The caller must hold no reference into
// it any more.
func (p *framePool) put(v *[]byte) {
	if v == nil {
		return
	}
	p.classes[classOf(cap(*v))].Put(v)
}

// readFramePooled is ReadFrame with the payload from pool; pooled is nil
// when it was allocated plainly.
func readFramePooled(r *bufio.Reader, max int, pool *framePool) (payload []byte, pooled *[]byte, err error) {
	n, err := readFrameLen(r, max)
	if err != nil {
		return nil, nil, err
	}
	buf, pooled := pool.get(n)
	if _, err := io.ReadFull(r, buf); err != nil {
		pool.put(pooled)
		return nil, nil, fmt.Errorf("reading frame: %w", err)
	}
	return buf, pooled, nil
}
