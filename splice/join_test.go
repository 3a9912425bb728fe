//go:build linux

package splice

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

// joined connects client ⇄ a ⇐Join⇒ b ⇄ server and runs Join in a
// goroutine. Join's result arrives on the returned channel.
type joinResult struct {
	stats Stats
	err   error
}

func startJoin(t *testing.T, ctx context.Context, aKind, bKind connKind, opt JoinOptions) (client, server socketConn, done <-chan joinResult) {
	t.Helper()
	client, a := pair(t, aKind)
	b, server := pair(t, bKind)
	ch := make(chan joinResult, 1)
	finished := make(chan struct{})
	go func() {
		st, err := Join(ctx, a, b, opt)
		ch <- joinResult{st, err}
		close(finished)
	}()
	t.Cleanup(func() {
		client.Close()
		server.Close()
		<-finished // Join must end once both peers are gone
	})
	return client, server, ch
}

func TestJoinHalfClose(t *testing.T) {
	for _, kp := range kindPairs {
		for _, mode := range []Mode{Auto, Always, Never} {
			t.Run(fmt.Sprintf("%s-%s/%s", kp.src, kp.dst, mode), func(t *testing.T) {
				p := NewPool(PoolConfig{Mode: mode})
				client, server, done := startJoin(t, context.Background(), kp.src, kp.dst, JoinOptions{Pool: p})
				request, reply := payload(11, 1<<20), payload(12, 1<<20)

				serverErr := make(chan error, 1)
				go func() {
					got, err := io.ReadAll(server)
					if err == nil && !bytes.Equal(got, request) {
						err = fmt.Errorf("server got %d bytes, want %d", len(got), len(request))
					}
					if err == nil {
						_, err = server.Write(reply)
					}
					server.Close()
					serverErr <- err
				}()
				clientErr := make(chan error, 1)
				go func() {
					_, err := client.Write(request)
					if err == nil {
						err = client.CloseWrite()
					}
					clientErr <- err
				}()
				got, err := io.ReadAll(client)
				if err != nil {
					t.Fatalf("client read: %v", err)
				}
				if !bytes.Equal(got, reply) {
					t.Fatalf("client got %d bytes, want %d", len(got), len(reply))
				}
				if err := <-clientErr; err != nil {
					t.Fatalf("client write: %v", err)
				}
				if err := <-serverErr; err != nil {
					t.Fatal(err)
				}
				res := <-done
				if res.err != nil {
					t.Fatalf("Join: %v", res.err)
				}
				if want := (Stats{AToB: 1 << 20, BToA: 1 << 20}); res.stats != want {
					t.Errorf("stats %+v, want %+v", res.stats, want)
				}
				if st := p.Stats(); st.PipesInUse != 0 || st.BuffersInUse != 0 {
					t.Errorf("pool after Join: %+v", st)
				}
			})
		}
	}
}

// pingPong sends n messages of size bytes from client, echoed by server.
func pingPong(t *testing.T, client, server net.Conn, n, size int) {
	t.Helper()
	echoed := make(chan error, 1)
	go func() {
		buf := make([]byte, size)
		for range n {
			if _, err := io.ReadFull(server, buf); err != nil {
				echoed <- err
				return
			}
			if _, err := server.Write(buf); err != nil {
				echoed <- err
				return
			}
		}
		echoed <- nil
	}()
	back := make([]byte, size)
	for i := range n {
		msg := payload(uint64(i), size)
		if _, err := client.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(client, back); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(back, msg) {
			t.Fatalf("message %d came back changed", i)
		}
	}
	if err := <-echoed; err != nil {
		t.Fatal(err)
	}
}

// endJoin closes the client's side and waits for Join to finish cleanly.
func endJoin(t *testing.T, client, server socketConn, done <-chan joinResult) joinResult {
	t.Helper()
	client.CloseWrite()
	if _, err := io.Copy(io.Discard, server); err != nil {
		t.Fatal(err)
	}
	server.CloseWrite()
	if _, err := io.Copy(io.Discard, client); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if res.err != nil {
		t.Fatalf("Join: %v", res.err)
	}
	return res
}

func TestJoinSmallMessagesUseBuffers(t *testing.T) {
	p := NewPool(PoolConfig{})
	client, server, done := startJoin(t, context.Background(), tcpKind, tcpKind, JoinOptions{Pool: p})
	pingPong(t, client, server, 200, 64)
	res := endJoin(t, client, server, done)
	if want := int64(200 * 64); res.stats.AToB != want || res.stats.BToA != want {
		t.Errorf("stats %+v, want %d each way", res.stats, want)
	}
	if st := p.Stats(); st.SplicedBytes != 0 || st.CopiedBytes != 2*200*64 {
		t.Errorf("64-byte ping-pong: %+v, want all copied through buffers", st)
	}
}

func TestJoinMixedSizesSwitchModes(t *testing.T) {
	for _, kp := range kindPairs {
		t.Run(fmt.Sprintf("%s-%s", kp.src, kp.dst), func(t *testing.T) {
			p := NewPool(PoolConfig{})
			client, server, done := startJoin(t, context.Background(), kp.src, kp.dst, JoinOptions{Pool: p})
			pingPong(t, client, server, 20, 100)
			bulk := payload(5, 2<<20)
			got := make(chan []byte, 1)
			go func() {
				b := make([]byte, len(bulk))
				io.ReadFull(server, b)
				got <- b
			}()
			if _, err := client.Write(bulk); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(<-got, bulk) {
				t.Fatal("bulk transfer changed")
			}
			pingPong(t, client, server, 20, 100)
			res := endJoin(t, client, server, done)
			if want := int64(len(bulk) + 20*100*2); res.stats.AToB != want {
				t.Errorf("AToB = %d, want %d", res.stats.AToB, want)
			}
			st := p.Stats()
			if st.SplicedBytes == 0 || st.CopiedBytes < 2*20*100 {
				t.Errorf("stats %+v: want bulk spliced and small messages copied", st)
			}
			if p.toSplice.Load() == 0 || p.toBuffer.Load() == 0 {
				t.Errorf("mode switches: to splice %d, to buffer %d", p.toSplice.Load(), p.toBuffer.Load())
			}
		})
	}
}

func TestJoinUnwrapsAndHalfClosesWrappers(t *testing.T) {
	p := NewPool(PoolConfig{Mode: Always})
	client, a := tcpPair(t)
	b, server := tcpPair(t)
	wa, wb := newBufConn(a), newBufConn(b)
	head := []byte("buffered before Join")
	client.Write(head)
	if _, err := wa.br.Peek(len(head)); err != nil {
		t.Fatal(err)
	}
	done := make(chan joinResult, 1)
	go func() {
		st, err := Join(context.Background(), wa, wb, JoinOptions{Pool: p})
		done <- joinResult{st, err}
	}()
	body := payload(9, 512<<10)
	go func() {
		client.Write(body)
		client.CloseWrite() // must reach server through wb, which has no CloseWrite
	}()
	got, err := io.ReadAll(server)
	if err != nil {
		t.Fatal(err)
	}
	if want := append(bytes.Clone(head), body...); !bytes.Equal(got, want) {
		t.Fatalf("server got %d bytes, want %d in order", len(got), len(want))
	}
	server.Write([]byte("bye"))
	server.CloseWrite()
	back, err := io.ReadAll(client)
	if err != nil || string(back) != "bye" {
		t.Fatalf("client got %q, %v", back, err)
	}
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	if wa.read.Load() != int64(len(head)) || wb.wrote.Load() != 0 {
		t.Errorf("through wrappers: read %d, wrote %d; want %d and 0", wa.read.Load(), wb.wrote.Load(), len(head))
	}
	if st := p.Stats(); st.SplicedBytes != int64(len(body)+3) {
		t.Errorf("spliced %d, want %d", st.SplicedBytes, len(body)+3)
	}
}

func TestJoinIdleTimeout(t *testing.T) {
	for _, mode := range []Mode{Auto, Always} {
		t.Run(mode.String(), func(t *testing.T) {
			p := NewPool(PoolConfig{Mode: mode})
			client, server, done := startJoin(t, context.Background(), tcpKind, unixKind,
				JoinOptions{Pool: p, IdleTimeout: 50 * time.Millisecond})
			pingPong(t, client, server, 3, 10)
			res := <-done
			if !errors.Is(res.err, ErrIdleTimeout) {
				t.Fatalf("Join = %v, want ErrIdleTimeout", res.err)
			}
			if res.stats.AToB != 30 || res.stats.BToA != 30 {
				t.Errorf("stats %+v", res.stats)
			}
			// Both peers see the connection end.
			if _, err := io.ReadAll(client); err != nil {
				t.Errorf("client: %v", err)
			}
			if _, err := io.ReadAll(server); err != nil {
				t.Errorf("server: %v", err)
			}
		})
	}
}

// TestJoinIdleTimeoutSparedByTraffic keeps one direction busy for several
// idle timeouts while the other is silent: the silent direction's deadline
// fires and must be re-armed, not end the Join.
func TestJoinIdleTimeoutSparedByTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	const idle = 300 * time.Millisecond
	p := NewPool(PoolConfig{})
	client, server, done := startJoin(t, context.Background(), tcpKind, tcpKind, JoinOptions{Pool: p, IdleTimeout: idle})
	drained := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, server)
		drained <- n
	}()
	chunk := payload(1, 4096)
	var sent int64
	for start := time.Now(); time.Since(start) < 3*idle; {
		n, err := client.Write(chunk)
		sent += int64(n)
		if err != nil {
			t.Fatalf("after %d bytes: %v", sent, err)
		}
	}
	client.CloseWrite()
	if got := <-drained; got != sent {
		t.Fatalf("server got %d of %d bytes", got, sent)
	}
	server.CloseWrite()
	res := <-done
	if res.err != nil {
		t.Fatalf("Join: %v", res.err)
	}
	if res.stats.AToB != sent {
		t.Errorf("AToB %d, want %d", res.stats.AToB, sent)
	}
}

func TestJoinCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	client, server, done := startJoin(t, ctx, tcpKind, tcpKind, JoinOptions{})
	pingPong(t, client, server, 1, 10)
	cancel()
	res := <-done
	if !errors.Is(res.err, context.Canceled) {
		t.Fatalf("Join = %v, want context.Canceled", res.err)
	}
	if _, err := io.ReadAll(server); err != nil {
		t.Errorf("server: %v", err)
	}
}

func TestJoinResetAbortsBoth(t *testing.T) {
	for _, mode := range []Mode{Auto, Always, Never} {
		t.Run("client reset/"+mode.String(), func(t *testing.T) {
			p := NewPool(PoolConfig{Mode: mode})
			client, server, done := startJoin(t, context.Background(), tcpKind, tcpKind, JoinOptions{Pool: p})
			pingPong(t, client, server, 2, 100)
			client.(*net.TCPConn).SetLinger(0)
			client.Close()
			res := <-done
			if !errors.Is(res.err, syscall.ECONNRESET) {
				t.Fatalf("Join = %v, want ECONNRESET", res.err)
			}
			// The server's side is closed too, not left half-open.
			if _, err := io.ReadAll(server); err != nil {
				t.Errorf("server: %v", err)
			}
			if st := p.Stats(); st.PipesInUse != 0 || st.BuffersInUse != 0 {
				t.Errorf("pool %+v", st)
			}
		})
		t.Run("server reset during bulk/"+mode.String(), func(t *testing.T) {
			p := NewPool(PoolConfig{Mode: mode})
			client, server, done := startJoin(t, context.Background(), tcpKind, tcpKind, JoinOptions{Pool: p})
			got := make([]byte, 100<<10)
			writerDone := make(chan struct{})
			defer func() { <-writerDone }()
			go func() {
				defer close(writerDone)
				// The client writes until the relay is torn down.
				chunk := payload(2, 64<<10)
				for {
					if _, err := client.Write(chunk); err != nil {
						return
					}
				}
			}()
			if _, err := io.ReadFull(server, got); err != nil {
				t.Fatal(err)
			}
			server.(*net.TCPConn).SetLinger(0)
			server.Close()
			res := <-done
			if res.err == nil {
				t.Fatal("Join ended without error after a reset")
			}
			if !errors.Is(res.err, syscall.ECONNRESET) && !errors.Is(res.err, syscall.EPIPE) {
				t.Errorf("Join = %v, want ECONNRESET or EPIPE", res.err)
			}
			if _, err := io.Copy(io.Discard, client); err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("client: %v", err)
			}
			if st := p.Stats(); st.PipesInUse != 0 || st.BuffersInUse != 0 {
				t.Errorf("pool %+v", st)
			}
		})
	}
}

// TestJoinIdleHoldsNothing moves bulk data both ways (so pipes and buffers
// are used), then checks that the idle relay holds no pipe and no buffer.
func TestJoinIdleHoldsNothing(t *testing.T) {
	for _, mode := range []Mode{Auto, Always} {
		t.Run(mode.String(), func(t *testing.T) {
			const up, down = 1 << 20, 2 << 20
			p := NewPool(PoolConfig{Mode: mode})
			type wait struct {
				r       *relay
				written int64
			}
			waiting := make(chan wait, 1024)
			p.waitHook = func(r *relay) {
				select {
				case waiting <- wait{r, r.written}:
				default:
					t.Error("wait hook overflow")
				}
			}
			client, server, done := startJoin(t, context.Background(), tcpKind, unixKind, JoinOptions{Pool: p})
			go func() {
				client.Write(payload(1, up))
				server.Write(payload(2, down))
			}()
			if _, err := io.ReadFull(server, make([]byte, up)); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(client, make([]byte, down)); err != nil {
				t.Fatal(err)
			}
			// Wait until one relay's latest wait came after writing all
			// of up, and another's after all of down.
			latest := map[*relay]int64{}
			for {
				w := <-waiting
				latest[w.r] = w.written
				var sawUp, sawDown bool
				for _, n := range latest {
					sawUp = sawUp || n == up
					sawDown = sawDown || n == down
				}
				if sawUp && sawDown {
					break
				}
			}
			st := p.Stats()
			if st.PipesInUse != 0 || st.BuffersInUse != 0 {
				t.Errorf("idle Join holds %d pipes and %d buffers", st.PipesInUse, st.BuffersInUse)
			}
			if st.PipesIdle == 0 {
				t.Errorf("no pipe was ever used: %+v", st)
			}
			endJoin(t, client, server, done)
		})
	}
}

func TestJoinWithoutCloseWriteEnds(t *testing.T) {
	client, a := net.Pipe()
	b, server := tcpPair(t)
	defer client.Close()
	done := make(chan joinResult, 1)
	go func() {
		st, err := Join(context.Background(), a, b, JoinOptions{})
		done <- joinResult{st, err}
	}()
	// b→a ends with EOF; a, a net.Pipe end, cannot pass it on with
	// CloseWrite, so Join ends and the client sees the pipe close.
	server.Write([]byte("yo"))
	server.CloseWrite()
	got, err := io.ReadAll(client)
	if err != nil || string(got) != "yo" {
		t.Fatalf("client got %q, %v", got, err)
	}
	res := <-done
	if res.err != nil || res.stats.BToA != 2 {
		t.Fatalf("Join = %+v, %v", res.stats, res.err)
	}
}

func TestJoinNil(t *testing.T) {
	if _, err := Join(context.Background(), nil, nil, JoinOptions{}); err == nil {
		t.Fatal("Join(nil, nil) succeeded")
	}
}

// flood writes to c until it fails and reports once total bytes are
// written.
func flood(c net.Conn, total int64, reached chan<- struct{}, done chan<- struct{}) {
	defer close(done)
	chunk := make([]byte, 256<<10)
	var n int64
	for {
		m, err := c.Write(chunk)
		n += int64(m)
		if reached != nil && n >= total {
			close(reached)
			reached = nil
		}
		if err != nil {
			if reached != nil {
				close(reached)
			}
			return
		}
	}
}

// TestJoinCancelWhileWriteBlocked cancels a Join whose a→b direction is
// stuck writing to a server that does not read: closing must not wait on
// the stuck write.
func TestJoinCancelWhileWriteBlocked(t *testing.T) {
	for _, mode := range []Mode{Auto, Always, Never} {
		t.Run(mode.String(), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			client, _, done := startJoin(t, ctx, tcpKind, tcpKind, JoinOptions{Pool: NewPool(PoolConfig{Mode: mode})})
			reached, flooded := make(chan struct{}), make(chan struct{})
			go flood(client, 1<<20, reached, flooded)
			<-reached
			cancel()
			res := <-done
			if !errors.Is(res.err, context.Canceled) {
				t.Fatalf("Join = %v", res.err)
			}
			client.Close()
			<-flooded
		})
	}
}

// TestJoinIdleTimeoutStalledWrite half-closes b→a, then floods a→b towards a
// server that never reads: only the write deadline can see that nothing
// moves any more.
func TestJoinIdleTimeoutStalledWrite(t *testing.T) {
	for _, mode := range []Mode{Auto, Always, Never} {
		t.Run(mode.String(), func(t *testing.T) {
			p := NewPool(PoolConfig{Mode: mode})
			client, server, done := startJoin(t, context.Background(), tcpKind, tcpKind,
				JoinOptions{Pool: p, IdleTimeout: 100 * time.Millisecond})
			server.CloseWrite()
			if _, err := io.ReadAll(client); err != nil { // b→a is over
				t.Fatal(err)
			}
			flooded := make(chan struct{})
			go flood(client, 0, nil, flooded)
			res := <-done
			if !errors.Is(res.err, ErrIdleTimeout) {
				t.Fatalf("Join = %v, want ErrIdleTimeout", res.err)
			}
			if res.stats.AToB == 0 {
				t.Error("nothing relayed before the stall")
			}
			client.Close()
			<-flooded
			if st := p.Stats(); st.PipesInUse != 0 || st.BuffersInUse != 0 {
				t.Errorf("pool %+v", st)
			}
		})
	}
}
