package httpproxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"time"

	"github.com/sluice-proxy/sluice/internal/zero"
	"github.com/sluice-proxy/sluice/protocols/http1"
)

// DefaultMaxMirrors bounds the mirror copies in flight per Service when
// Config.MaxMirrors is 0.
const DefaultMaxMirrors = 256

// Mirror asks for a copy of this request, exactly as it is sent upstream
// (after UpstreamRequestFilter), to go to peer in the background: shadow
// traffic. The copy goes on a connection of its own, its response is read
// and dropped, and neither the client nor this request waits for it; it
// outlives the request, is bounded in number per Service
// (Config.MaxMirrors: past it a copy is dropped), ends with Shutdown, and
// is counted in sluice_http_mirror_total. Only a request whose whole body
// is in hand when it is sent (none, or a small one sent with its head) is
// copied; one whose body streams is skipped. Call it from UpstreamPeer or
// an earlier phase.
func (s *Session) Mirror(peer *Peer) { s.mirror = peer }

// startMirror copies head (the request as written upstream, with its
// whole body) to the session's mirror peer, in the background.
func (hc *h1conn) startMirror(s *Session, head []byte, whole bool) {
	peer := s.mirror
	s.mirror = nil
	if peer == nil {
		return
	}
	svc := hc.svc
	if !whole {
		svc.countMirror("skipped")
		return
	}
	select {
	case svc.mirrorSlots <- struct{}{}:
	default:
		svc.countMirror("dropped")
		return
	}
	data := bytes.Clone(head)
	method := bytes.Clone(s.upRequest.Method)
	svc.mirrorWG.Add(1)
	go func() {
		defer svc.mirrorWG.Done()
		defer func() { <-svc.mirrorSlots }()
		svc.countMirror(svc.mirrorOnce(peer, data, method))
	}()
}

// mirrorOnce sends data to peer and reads the answer to its end.
func (svc *Service) mirrorOnce(peer *Peer, data, method []byte) string {
	ctx := svc.mirrorCtx
	timeout := zero.Duration(peer.ReadTimeout, svc.to.UpstreamRead)
	if timeout <= 0 {
		timeout = DefaultUpstreamTimeout
	}
	dctx, cancel := svc.connectContext(ctx, peer)
	c, err := svc.dialPeer(ctx, dctx, peer, peer.TLS)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return "shutdown"
		}
		return "failed"
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write(data); err != nil {
		return svc.mirrorFailure(ctx)
	}
	r := http1.NewReader(c, svc.cfg.Limits)
	var resp http1.Response
	for {
		if err := r.ReadResponse(&resp, method); err != nil {
			return svc.mirrorFailure(ctx)
		}
		if resp.Status >= 200 {
			break
		}
	}
	br := r.Body(resp.Framing, resp.ContentLength)
	for {
		c.SetDeadline(time.Now().Add(timeout))
		_, err := br.Next()
		if errors.Is(err, io.EOF) {
			return "ok"
		}
		if err != nil {
			return svc.mirrorFailure(ctx)
		}
	}
}

func (svc *Service) mirrorFailure(ctx context.Context) string {
	if ctx.Err() != nil {
		return "shutdown"
	}
	return "failed"
}

func (svc *Service) countMirror(result string) {
	if svc.m != nil {
		svc.m.mirrored(result)
	}
}
