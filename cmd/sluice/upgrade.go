package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A binary upgrade (Pingora's model): the running sluice listens on
// lifecycle.upgrade_socket; `sluice run -c FILE -upgrade` (or SIGUSR2 to
// the running one, which starts it) connects there and receives every
// listening stream socket, with the name each serves ("KIND SERVICE
// ADDRESS", and "metrics ADDRESS"), by SCM_RIGHTS in one message. It builds its
// services on them (new addresses are bound, sockets it does not need are
// closed) and starts serving, then says "ready"; only then does the old
// process stop accepting, close the upgrade socket, answer "bye", drain
// its connections within shutdown.grace and exit 0. If the new process
// fails before "ready", the old one has changed nothing and goes on
// serving. UDP sockets are not handed over: the new process binds them
// beside the old ones (SO_REUSEPORT, with more than one worker).

// handoverTimeout bounds how long the old process waits for its successor
// to say "ready" after the sockets went over.
const handoverTimeout = 60 * time.Second

// handoverMsg is the text part of the hand-over message.
type handoverMsg struct {
	Names []string `json:"names"`
}

// upgrader is the running process's side.
type upgrader struct {
	a    *app
	path string
	ln   *net.UnixListener
	busy sync.Mutex    // one hand-over at a time
	done chan struct{} // closed once a successor took over
	once sync.Once
}

// listenUpgrades opens the upgrade socket (mode 0600; a stale file left by
// a dead process is replaced, a live one is an error).
func (a *app) listenUpgrades(path string) error {
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return fmt.Errorf("lifecycle.upgrade_socket %s: another process is listening there", path)
	}
	os.Remove(path)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("lifecycle.upgrade_socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("lifecycle.upgrade_socket: %w", err)
	}
	u := &upgrader{a: a, path: path, ln: ln, done: make(chan struct{})}
	a.upgrades = u
	a.wg.Add(1)
	go u.serve()
	return nil
}

func (u *upgrader) serve() {
	defer u.a.wg.Done()
	for {
		c, err := u.ln.AcceptUnix()
		if err != nil {
			return
		}
		go u.handle(c)
	}
}

// handle hands the sockets to one successor.
func (u *upgrader) handle(c *net.UnixConn) {
	defer c.Close()
	if !u.busy.TryLock() {
		fmt.Fprintln(c, "busy: an upgrade is already running")
		u.a.log.Warn("upgrade refused: another one is running")
		return
	}
	defer u.busy.Unlock()
	if err := u.handOver(c); err != nil {
		u.a.log.Error("upgrade failed; this process goes on serving", "error", err)
		return
	}
	u.a.log.Info("upgrade: the new process serves; draining", "grace", u.a.currentConfig().Grace)
}

func (u *upgrader) handOver(c *net.UnixConn) error {
	if err := samePeerUser(c); err != nil {
		return err
	}
	names, files, err := u.a.handoverFiles()
	if err != nil {
		return err
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	msg, _ := json.Marshal(handoverMsg{Names: names})
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	if _, _, err := c.WriteMsgUnix(append(msg, '\n'), unix.UnixRights(fds...), nil); err != nil {
		return fmt.Errorf("sending the sockets: %w", err)
	}
	c.SetReadDeadline(time.Now().Add(handoverTimeout))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "ready\n" {
		return fmt.Errorf("the new process did not become ready (%q, %v)", line, err)
	}
	// From here on only the successor accepts, and Unix socket paths are
	// its: closing ours must not unlink them.
	for _, s := range u.a.currentServices() {
		for _, l := range s.sockets() {
			if ul, ok := l.(*net.UnixListener); ok {
				ul.SetUnlinkOnClose(false)
			}
		}
		s.stopAccepting()
	}
	if u.a.metricsL != nil {
		u.a.metricsL.Close()
	}
	u.ln.Close() // unlinks the path, for the successor's own socket
	fmt.Fprintln(c, "bye")
	u.once.Do(func() { close(u.done) })
	return nil
}

// handedOver reports whether a successor has taken over.
func (a *app) handedOver() bool {
	if a.upgrades == nil {
		return false
	}
	select {
	case <-a.upgrades.done:
		return true
	default:
		return false
	}
}

// samePeerUser refuses a peer that runs as another user.
func samePeerUser(c *net.UnixConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	var cerr error
	rc.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) })
	if cerr != nil {
		return fmt.Errorf("upgrade socket: peer credentials: %w", cerr)
	}
	if int(cred.Uid) != os.Getuid() {
		return fmt.Errorf("upgrade socket: peer runs as uid %d, not %d: refused", cred.Uid, os.Getuid())
	}
	return nil
}

// handoverFiles lists the stream listeners to hand over, named, as dup'd
// files.
func (a *app) handoverFiles() ([]string, []*os.File, error) {
	var names []string
	var files []*os.File
	add := func(name string, l net.Listener) error {
		f, ok := l.(interface{ File() (*os.File, error) })
		if !ok {
			return fmt.Errorf("cannot hand over %s (%T)", name, l)
		}
		file, err := f.File()
		if err != nil {
			return err
		}
		names, files = append(names, name), append(files, file)
		return nil
	}
	for _, s := range a.currentServices() {
		m := s.sockets()
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if err := add(s.kind()+" "+s.name()+" "+k, m[k]); err != nil {
				return nil, files, err
			}
		}
	}
	if a.metricsL != nil {
		if err := add("metrics "+a.currentConfig().Metrics.Listen, a.metricsL); err != nil {
			return nil, files, err
		}
	}
	return names, files, nil
}

// successor is the new process's side of a hand-over.
type successor struct {
	c         *net.UnixConn
	listeners map[string]net.Listener
}

// receiveSockets connects to a running sluice's upgrade socket and takes
// its listening sockets.
func receiveSockets(path string) (*successor, error) {
	if path == "" {
		return nil, errors.New("-upgrade needs lifecycle.upgrade_socket in the config")
	}
	conn, err := net.Dial("unix", path)
	if err != nil {
		return nil, fmt.Errorf("-upgrade: no running sluice at %s: %w", path, err)
	}
	c := conn.(*net.UnixConn)
	c.SetReadDeadline(time.Now().Add(handoverTimeout))
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*250))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("-upgrade: receiving the sockets: %w", err)
	}
	c.SetReadDeadline(time.Time{})
	line := strings.TrimSuffix(string(buf[:n]), "\n")
	var msg handoverMsg
	if err := json.Unmarshal([]byte(line), &msg); err != nil {
		c.Close()
		return nil, fmt.Errorf("-upgrade: the running sluice said %q", line)
	}
	var fds []int
	if oobn > 0 {
		cms, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err == nil && len(cms) > 0 {
			fds, _ = unix.ParseUnixRights(&cms[0])
		}
	}
	if len(fds) != len(msg.Names) {
		for _, fd := range fds {
			unix.Close(fd)
		}
		c.Close()
		return nil, fmt.Errorf("-upgrade: %d names but %d sockets received", len(msg.Names), len(fds))
	}
	s := &successor{c: c, listeners: make(map[string]net.Listener, len(fds))}
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), msg.Names[i])
		l, err := net.FileListener(f)
		f.Close()
		if err != nil {
			s.closeAll()
			c.Close()
			return nil, fmt.Errorf("-upgrade: socket %s: %w", msg.Names[i], err)
		}
		s.listeners[msg.Names[i]] = l
	}
	return s, nil
}

// closeAll closes the sockets nobody took.
func (s *successor) closeAll() {
	for _, l := range s.listeners {
		if ul, ok := l.(*net.UnixListener); ok {
			ul.SetUnlinkOnClose(false)
		}
		l.Close()
	}
}

// serving tells the old process this one serves, and waits for it to let go
// of the upgrade socket.
func (s *successor) serving() error {
	defer s.c.Close()
	if _, err := fmt.Fprintln(s.c, "ready"); err != nil {
		return err
	}
	s.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(s.c).ReadString('\n')
	if err != nil || line != "bye\n" {
		return fmt.Errorf("the old process did not let go (%q, %v)", line, err)
	}
	return nil
}

// startSuccessor runs this executable again with -upgrade (SIGUSR2).
func (a *app) startSuccessor() {
	exe, err := os.Executable()
	if err != nil {
		a.log.Error("upgrade: cannot find this executable", "error", err)
		return
	}
	args := os.Args[1:]
	if !slices.Contains(args, "-upgrade") {
		args = append(slices.Clone(args), "-upgrade")
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		a.log.Error("upgrade: starting the new process failed", "error", err)
		return
	}
	a.log.Info("upgrade: started the new process", "pid", cmd.Process.Pid)
	go func() {
		if err := cmd.Wait(); err != nil {
			a.log.Warn("upgrade: the new process exited", "pid", cmd.Process.Pid, "error", err)
		}
	}()
}
