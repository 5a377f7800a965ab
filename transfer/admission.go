package transfer

import (
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

func (s *Server) acquire(p peer.ID) *servedPeer {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.peers[p]
	if sp == nil {
		sp = &servedPeer{lim: rate.NewLimiter(limitOf(s.peerRate), burstOf(s.peerRate))}
		s.peers[p] = sp
	}
	if sp.streams >= s.opts.MaxStreams {
		return nil
	}
	sp.streams++
	return sp
}

func (s *Server) release(p peer.ID, sp *servedPeer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp.streams--
	if sp.streams == 0 {
		delete(s.peers, p)
	}
}

// openRequest counts a new request against the peer's cap.
func (s *Server) openRequest(sp *servedPeer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sp.open >= s.opts.MaxRequests {
		return false
	}
	sp.open++
	return true
}

func (s *Server) closeRequest(sp *servedPeer) {
	s.mu.Lock()
	sp.open--
	s.mu.Unlock()
}

func (s *Server) addServed(p peer.ID, n int) {
	s.mu.Lock()
	s.served[p] += int64(n)
	s.mu.Unlock()
}
