package fdpoll

import "errors"

// ErrUnsupported is returned by New where there is no epoll (not Linux).
var ErrUnsupported = errors.New("fdpoll: not supported on this platform")

// ErrNotSocket is returned by Poller.Wrap for a connection that is not a
// *net.TCPConn or *net.UnixConn; the connection is left untouched.
var ErrNotSocket = errors.New("fdpoll: not a stream socket")

// ErrPollerClosed is returned by Poller.Wrap after Poller.Close.
var ErrPollerClosed = errors.New("fdpoll: poller closed")
