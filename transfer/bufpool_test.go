package transfer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/trove-p2p/trove/block"
	"github.com/trove-p2p/trove/internal/memstore"
)

func TestFramePoolSizes(t *testing.T) {
	var p framePool
	for _, tc := range []struct {
		n      int
		pooled bool
	}{
		{1, false},
		{minPooled - 1, false},
		{minPooled, true},
		{1<<20 + 57, true}, // a 1 MiB block and its header
		{MaxFrame, true},
		{MaxFrame + 1, false},
	} {
		buf, v := p.get(tc.n)
		if len(buf) != tc.n {
			t.Fatalf("get(%d) returned %d bytes", tc.n, len(buf))
		}
		if (v != nil) != tc.pooled {
			t.Fatalf("get(%d): pooled=%v, want %v", tc.n, v != nil, tc.pooled)
		}
		if v != nil && cap(*v)%poolClass != 0 {
			t.Fatalf("get(%d): capacity %d is not a size class", tc.n, cap(*v))
		}
		p.put(v)
	}
}

func TestReadFramePooled(t *testing.T) {
	var p framePool
	m := &Message{Type: MsgBlock, ID: 9, CID: mustCid(t, []byte("x")), Data: bytes.Repeat([]byte{7}, 300<<10)}
	frame := AppendFrame(nil, m)
	var stream bytes.Buffer
	stream.Write(frame)
	stream.Write(frame[:len(frame)-1]) // a second frame cut short
	br := bufio.NewReader(&stream)
	payload, v, err := readFramePooled(br, MaxFrame, &p)
	if err != nil || v == nil {
		t.Fatalf("first frame: %v (pooled %v)", err, v != nil)
	}
	got, err := Decode(payload)
	if err != nil || !bytes.Equal(got.Data, m.Data) || got.ID != 9 {
		t.Fatalf("decoded %v, %v", got.ID, err)
	}
	p.put(v)
	if _, _, err := readFramePooled(br, MaxFrame, &p); err == nil {
		t.Fatal("a truncated frame read without error")
	}
	if _, _, err := readFramePooled(bufio.NewReader(bytes.NewReader(frame)), 1024, &p); !errors.Is(err, ErrProtocol) {
		t.Fatalf("oversized frame: %v, want ErrProtocol", err)
	}
}

func mustCid(t *testing.T, data []byte) cid.Cid {
	t.Helper()
	c, err := block.Sum(1, block.CodecRaw, block.HashSHA256, data)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// lateStore is a Store with PutAsync that writes each block only after a
// delay, checking then that the bytes still match their CID: if the
// Fetcher recycled a receive buffer before done ran, a later frame would
// have overwritten it by then.
type lateStore struct {
	*memstore.Store
	mu      sync.Mutex
	bad     []string
	pending sync.WaitGroup
}

func (s *lateStore) PutAsync(ctx context.Context, c cid.Cid, data []byte, done func(error)) {
	s.pending.Add(1)
	go func() {
		defer s.pending.Done()
		time.Sleep(2 * time.Millisecond)
		if err := block.Verify(c, data); err != nil {
			s.mu.Lock()
			s.bad = append(s.bad, c.String())
			s.mu.Unlock()
		}
		done(s.Store.Put(ctx, c, data))
	}()
}

func TestFetchKeepsBuffersUntilStored(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := newSeeder(t, ServerOptions{})
	data := randomBytes(t, 24<<20+3)
	root, leaves := buildFile(t, data, 256<<10, 174, s.store)
	local := &lateStore{Store: memstore.New()}
	f := NewFetcher(newHost(t), local, FetchOptions{})
	defer f.Close()
	if err := f.Fetch(ctx, root, addrInfo(s.h)); err != nil {
		t.Fatal(err)
	}
	local.pending.Wait()
	if len(local.bad) > 0 {
		t.Fatalf("%d blocks changed before the store wrote them, e.g. %s", len(local.bad), local.bad[0])
	}
	checkFile(t, local.Store, leaves, data)
}
