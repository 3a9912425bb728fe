package main

import (
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// sdNotify tells the service manager about a state change (sd_notify(3))
// when NOTIFY_SOCKET is set: READY=1 once serving, RELOADING=1 and READY=1
// around a reload, STOPPING=1 when draining, MAINPID after an upgrade.
// Without NOTIFY_SOCKET it does nothing; a failure is returned for the log.
func sdNotify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' { // an abstract socket
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// reloadingState is RELOADING=1 with the monotonic timestamp systemd
// wants beside it (Type=notify-reload).
func reloadingState() string {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return fmt.Sprintf("RELOADING=1\nMONOTONIC_USEC=%d", ts.Nano()/1000)
}

// notify sends state and logs a failure.
func (a *app) notify(state string) {
	if err := sdNotify(state); err != nil {
		a.log.Warn("could not notify the service manager", "error", err)
	}
}
