package car

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-varint"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/ipld"
	"github.com/trove-p2p/trove/unixfs/pb"
)

// prefetchWindow is how many blocks Export fetches ahead of the one it is
// writing. The getter may be a network fetcher with a round trip per block;
// eight in flight hides most of that latency while holding at most 16 MiB of
// fetched-but-unwritten blocks.
const prefetchWindow = 8

// Export writes the DAG under root to w as a CAR v1 archive with root as its
// only root. Blocks appear in depth-first pre-order (a node before its
// children, children in link order), each CID once, which is the order a
// streaming reader of the archive can walk without buffering.
//
// Blocks are written as the getter returns them; Export does not re-hash
// them, because a trove store verifies on the way in and a network getter
// verifies at its own choke point. Raw, dag-pb and the codecs of package ipld
// are walked; any other codec fails with block.ErrUnsupported. A missing block fails
// with the getter's error (block.ErrNotFound for a store), after part of the
// archive has been written.
func Export(ctx context.Context, g block.Getter, root cid.Cid, w io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	e := &exporter{
		ctx:      ctx,
		g:        g,
		inflight: make(map[string]*fetch),
		slots:    make(chan struct{}, prefetchWindow),
	}
	defer func() {
		// Stop and reap prefetches the walk will no longer consume.
		cancel()
		e.wg.Wait()
	}()

	bw := bufio.NewWriterSize(w, 256<<10)
	hdr := encodeHeader([]cid.Cid{root})
	bw.Write(varint.ToUvarint(uint64(len(hdr))))
	bw.Write(hdr)

	seen := make(map[string]struct{})
	stack := []cid.Cid{root}
	var links []cid.Cid
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if _, ok := seen[c.KeyString()]; ok {
			continue
		}
		seen[c.KeyString()] = struct{}{}
		data, err := e.take(c)
		if err != nil {
			return fmt.Errorf("car export: %w", err)
		}
		links, err = appendLinks(links[:0], c, data)
		if err != nil {
			return fmt.Errorf("car export: %w", err)
		}
		bw.Write(varint.ToUvarint(uint64(c.ByteLen() + len(data))))
		bw.WriteString(c.KeyString())
		if _, err := bw.Write(data); err != nil {
			// bufio.Writer is sticky: this reports any earlier write error too.
			return fmt.Errorf("car export: %w", err)
		}
		for i := len(links) - 1; i >= 0; i-- {
			stack = append(stack, links[i])
		}
		e.prefetch(stack, seen)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("car export: %w", err)
	}
	return nil
}

// appendLinks lists the children of a block in link order.
func appendLinks(dst []cid.Cid, c cid.Cid, data []byte) ([]cid.Cid, error) {
	switch c.Type() {
	case block.CodecRaw:
		return dst, nil
	case block.CodecDagPB:
		dst, err := pb.AppendLinks(dst, data)
		if err != nil {
			return dst, fmt.Errorf("block %s: %w", c, err)
		}
		return dst, nil
	default:
		l, err := ipld.Links(c, data)
		if err != nil {
			return dst, fmt.Errorf("block %s: %w", c, err)
		}
		return append(dst, l...), nil
	}
}

// fetch is one prefetched Get; done closes when data and err are set.
type fetch struct {
	done chan struct{}
	data []byte
	err  error
}

// exporter holds the bounded read-ahead of Export. Only the Export
// goroutine touches inflight; the fetch goroutines only fill their fetch.
type exporter struct {
	ctx      context.Context
	g        block.Getter
	inflight map[string]*fetch
	slots    chan struct{} // one token per fetched-but-unconsumed block
	wg       sync.WaitGroup
}

// prefetch starts Gets for the blocks nearest the top of the stack, which
// are the next ones the walk visits. It looks only a little way down so
// that each step costs O(window), not O(stack).
func (e *exporter) prefetch(stack []cid.Cid, seen map[string]struct{}) {
	for i := len(stack) - 1; i >= 0 && i >= len(stack)-2*prefetchWindow; i-- {
		c := stack[i]
		k := c.KeyString()
		if _, ok := seen[k]; ok {
			continue
		}
		if _, ok := e.inflight[k]; ok {
			continue
		}
		select {
		case e.slots <- struct{}{}:
		default:
			return // window full
		}
		f := &fetch{done: make(chan struct{})}
		e.inflight[k] = f
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			f.data, f.err = e.g.Get(e.ctx, c)
			close(f.done)
		}()
	}
}

// take returns c's bytes, from a prefetch if one was started.
func (e *exporter) take(c cid.Cid) ([]byte, error) {
	k := c.KeyString()
	f, ok := e.inflight[k]
	if !ok {
		return e.g.Get(e.ctx, c)
	}
	delete(e.inflight, k)
	select {
	case <-f.done:
	case <-e.ctx.Done():
		return nil, e.ctx.Err()
	}
	<-e.slots
	return f.data, f.err
}
