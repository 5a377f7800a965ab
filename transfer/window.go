package transfer

import (
	"fmt"

	"github.com/libp2p/go-libp2p/core/network"
)

// MinWindow is the smallest flow-control window a fetch session runs
// with: one frame of the largest block, so a peer can always send the
// next block and a download under a tight memory limit is slow rather
// than stuck.
const MinWindow = MaxFrame

// reserveWindow reserves a fetch session's receive window through its
// stream's scope, so libp2p's resource manager accounts for the blocks
// the peer may have in flight towards us as it does for the serving
// side's buffers (StreamMemory). It asks for want bytes at medium
// priority (the resource manager admits it while the scope would stay
// under 60% of its limit, leaving room for serving streams, which reserve
// at top priority) and halves the request on each refusal down to
// MinWindow, which it then asks for at top priority: a download under
// memory pressure gets a smaller window instead of failing. Only when
// even that is refused does it return an error; the session is then not
// opened and the peer is tried again after the usual backoff.
//
// It returns the window reserved, which the caller must release with
// scope.ReleaseMemory when the session ends. (Blocks a consumer still
// holds then, waiting for the store, are no longer counted; they are at
// most one window and go within the store's write time.)
func reserveWindow(scope network.ResourceScope, want int64) (int64, error) {
	want = max(want, MinWindow)
	for w := want; w > MinWindow; w /= 2 {
		if scope.ReserveMemory(int(w), network.ReservationPriorityMedium) == nil {
			return w, nil
		}
	}
	if err := scope.ReserveMemory(MinWindow, network.ReservationPriorityAlways); err != nil {
		return 0, fmt.Errorf("transfer: reserve a %d-byte receive window: %w", MinWindow, err)
	}
	return MinWindow, nil
}
