package httpproxy

import (
	"context"
	"time"

	"github.com/sluice-proxy/sluice/internal/zero"
	"github.com/sluice-proxy/sluice/splice"
)

// tunnel completes an upgrade the upstream accepted with 101: the head goes
// to the client, then bytes relay both ways (spliced where both ends are
// sockets) until both sides are done. Nothing is tunnelled before the 101:
// an Upgrade request answered otherwise stays plain HTTP.
func (hc *h1conn) tunnel(ctx context.Context, s *Session, uc *upConn) error {
	resp := s.Response
	proto := resp.Header.Get("Upgrade")
	var keep []byte
	if proto != nil {
		keep = append(keep, proto...)
	}
	stripHopByHop(&resp.Header)
	resp.Header.Set("Connection", "upgrade")
	if keep != nil {
		resp.Header.AddBytes([]byte("Upgrade"), keep)
	}
	if ph := hc.svc.ph.response; ph != nil {
		if err := ph.ResponseFilter(ctx, s, resp); err != nil {
			uc.c.Close()
			return wrapKind(ErrInternal, err)
		}
	}
	resp.Version = 11
	s.Status = resp.Status
	s.closeConn = true
	hc.wbuf = resp.AppendHead(hc.wbuf[:0])
	// Bytes that came after the 101 (or after the request) belong to the
	// tunnel.
	hc.wbuf = append(hc.wbuf, uc.r.Detach()...)
	s.headSent = true
	if err := hc.flush(); err != nil {
		uc.c.Close()
		return err
	}
	if early := hc.r.Detach(); len(early) > 0 {
		uc.wd.extend(time.Now(), uc.c.SetWriteDeadline, zero.Duration(s.Peer.WriteTimeout, hc.svc.to.UpstreamWrite))
		if _, err := uc.c.Write(early); err != nil {
			uc.c.Close()
			return upstreamErr(err)
		}
		s.RequestBodyBytes += int64(len(early))
	}
	hc.in.rd.clear(hc.c.SetReadDeadline)
	hc.wd.clear(hc.c.SetWriteDeadline)
	uc.rd.clear(uc.c.SetReadDeadline)
	uc.wd.clear(uc.c.SetWriteDeadline)
	// However the relay ends (either side closing or resetting, the idle
	// bound), the exchange itself succeeded; Join closes both connections.
	st, _ := splice.Join(ctx, hc.c, uc.c, splice.JoinOptions{IdleTimeout: hc.svc.to.Idle})
	s.RequestBodyBytes += st.AToB
	s.ResponseBodyBytes += st.BToA
	return nil
}
