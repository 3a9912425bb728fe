//go:build !linux

package udpproxy

import (
	"errors"
	"fmt"
	"runtime"
)

// The UDP service needs Linux (epoll, recvmmsg/sendmmsg, UDP GRO/GSO); on
// other systems New works, so configurations can be checked, but Listen
// and Serve fail.

type sockets struct{}

type worker struct{}

func (p *Proxy) bind() error {
	return fmt.Errorf("UDP forwarding on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

func (p *Proxy) unbind() {}

func (p *Proxy) start() error { return p.bind() }

func (p *Proxy) signalStop() { p.stopping.Store(true) }

func (w *worker) post(func(*worker)) bool { return false }
