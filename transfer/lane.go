package transfer

import (
	"context"
	"errors"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// Lanes: one stream moves at most about its muxer window per round trip
// (yamux gives the window back in halves, so about half of it is in
// flight), so a single stream to a far, fast peer leaves most of the link
// idle: 8 MiB windows at 100 ms cap it near 40 MB/s. A peer whose
// measured rate times round trip passes FetchOptions.LaneBytes gets
// another stream, a lane, with a window of its own; the scheduler sees
// each lane as one more provider. The memory stays accounted: every lane
// reserves its credit window like any session.

// maxLanes is the most extra streams one transfer opens to one peer; with
// the shared session that is three of the four a trove server accepts per
// peer (ServerOptions.MaxStreams), leaving one for other readers.
const maxLanes = 2

// maybeLane opens a lane to p's peer in the background if p's stream is
// window-bound. Called by the coordinator on each rate sample.
func (t *transfer) maybeLane(p *tpeer, now time.Time) {
	rtt := time.Duration(p.s.rtt.Load())
	// The last sample alone may open lanes: the smoothed rate starts from
	// a first sample that includes the first round trip's wait, and takes
	// a few more ticks to pass LaneBytes on a link that already has.
	rate := max(p.rate, p.last)
	if rtt <= 0 || !p.usable(now) || rate*rtt.Seconds() < float64(t.f.opts.LaneBytes) {
		return
	}
	id := p.s.p
	t.mu.Lock()
	if t.lanes == nil {
		t.lanes = map[peer.ID]*laneSet{}
	}
	ls := t.lanes[id]
	if ls == nil {
		ls = &laneSet{}
		t.lanes[id] = ls
	}
	// The first window-bound sample opens every lane at once: it says the
	// stream is capped by its window, not how far the link goes beyond
	// it, and opening them one by one, each measured before the next,
	// left a third of a 100 ms link idle for several round trips. A lane
	// the link cannot feed only shares it.
	if ls.asked {
		t.mu.Unlock()
		return
	}
	ls.asked = true
	t.mu.Unlock()
	for range maxLanes {
		t.openLane(ls, id, rtt, rate)
	}
}

// openLane opens one lane of ls to id in the background and hands it to the
// coordinator as one more provider.
func (t *transfer) openLane(ls *laneSet, id peer.ID, rtt time.Duration, rate float64) {
	go func() {
		ctx, cancel := context.WithTimeout(t.ctx, t.f.opts.RequestTimeout)
		defer cancel()
		s, err := t.f.lane(ctx, id)
		if err != nil {
			t.f.log.Debug("transfer: no lane", "peer", id, "err", err)
			return
		}
		s.rtt.Store(int64(rtt))
		t.mu.Lock()
		if t.ctx.Err() != nil {
			t.mu.Unlock()
			s.fail(errors.New("transfer ended"))
			return
		}
		ls.sessions = append(ls.sessions, s)
		t.sessions = append(t.sessions, s)
		close(t.peerReady)
		t.peerReady = make(chan struct{})
		t.mu.Unlock()
		t.f.log.Debug("transfer: lane opened", "peer", id, "rate", rate, "rtt", rtt)
		select {
		case t.newPeer <- &tpeer{s: s}:
		case <-t.ctx.Done():
		}
	}()
}

// laneSet is what a transfer opened to one peer beside its shared session.
type laneSet struct {
	asked    bool // its lanes were asked for, opened or not
	sessions []*session
}

// closeLanes ends the transfer's lanes: unlike the shared sessions they
// serve no one else.
func (t *transfer) closeLanes() {
	t.mu.Lock()
	var ss []*session
	for _, ls := range t.lanes {
		ss = append(ss, ls.sessions...)
	}
	t.mu.Unlock()
	for _, s := range ss {
		s.fail(errors.New("transfer ended"))
	}
}

// lane opens a session to a connected peer that is not shared: a stream
// of its own, with its own window, owned by the transfer that asked.
func (f *Fetcher) lane(ctx context.Context, id peer.ID) (*session, error) {
	st, err := openStream(ctx, f.h, peer.AddrInfo{ID: id})
	if err != nil {
		return nil, err
	}
	window, err := reserveWindow(st.Scope(), f.opts.Window)
	if err != nil {
		st.Reset()
		return nil, err
	}
	s := newSession(st, window, window, f.down, &f.pool, f.ban)
	s.setIdle(f.opts.SessionIdle)
	return s, nil
}
