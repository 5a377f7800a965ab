package p2p

import "testing"

// TestMuxerFixedWindow: every stream starts with the whole StreamWindow,
// so go-yamux's window growth (which loses credit, see StreamWindow)
// never runs.
func TestMuxerFixedWindow(t *testing.T) {
	c := muxer().Config()
	if c.InitialStreamWindowSize != StreamWindow || c.MaxStreamWindowSize != StreamWindow {
		t.Fatalf("initial %d, max %d; want both %d", c.InitialStreamWindowSize, c.MaxStreamWindowSize, StreamWindow)
	}
}
