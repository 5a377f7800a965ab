package api

import (
	"context"
	"net"
	"os"
)

type localUserKey struct{}

// connContext marks requests that arrive over the unix socket from a
// process of the daemon's own user. The kernel vouches for the user
// (SO_PEERCRED), which a token on TCP cannot: whoever holds the token may
// be anyone, anywhere.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if uc, ok := c.(*net.UnixConn); ok {
		uc.SetWriteBuffer(streamSockBuf)
		uc.SetReadBuffer(streamSockBuf)
		if uid, ok := peerUID(uc); ok && uid == os.Getuid() {
			return context.WithValue(ctx, localUserKey{}, true)
		}
	}
	return ctx
}

// LocalUser reports whether the request came from a process of the
// daemon's own user on this machine. Only for such a caller may the
// daemon act on local paths for it (write a get's output): anything the
// daemon writes there, the caller could have written itself.
func LocalUser(ctx context.Context) bool {
	v, _ := ctx.Value(localUserKey{}).(bool)
	return v
}
