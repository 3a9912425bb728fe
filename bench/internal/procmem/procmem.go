// Package procmem reads the memory of a process tree from /proc, for the
// side-by-side harnesses' idle-cost measurements.
package procmem

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Mem is the memory of a process tree in KiB.
type Mem struct {
	Procs  int   // processes summed
	RSSKiB int64 // VmRSS from /proc/PID/status
	PSSKiB int64 // Pss from /proc/PID/smaps_rollup (shared pages split among sharers)
}

// ReadTree sums the memory of pid and all its descendants.
func ReadTree(pid int) (Mem, error) {
	pids, err := procTree(pid)
	if err != nil {
		return Mem{}, err
	}
	var m Mem
	for _, p := range pids {
		rss, err := statusField(p, "status", "VmRSS:")
		if err != nil {
			if p == pid {
				return Mem{}, err
			}
			continue // a child that exited meanwhile
		}
		pss, err := statusField(p, "smaps_rollup", "Pss:")
		if err != nil {
			pss = 0
		}
		m.Procs++
		m.RSSKiB += rss
		m.PSSKiB += pss
	}
	return m, nil
}

// procTree returns pid followed by all its descendants, from the ppid
// field of every /proc/*/stat.
func procTree(pid int) ([]int, error) {
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		return nil, fmt.Errorf("list /proc: %w", err)
	}
	children := make(map[int][]int)
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue // exited
		}
		// "pid (comm) state ppid ..."; comm may hold spaces and parentheses.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, err1 := strconv.Atoi(f[1])
		self, err2 := strconv.Atoi(filepath.Base(filepath.Dir(path)))
		if err1 != nil || err2 != nil {
			continue
		}
		children[ppid] = append(children[ppid], self)
	}
	out := []int{pid}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i]]...)
	}
	return out, nil
}

// statusField returns the KiB value of the line starting with key in
// /proc/pid/file ("VmRSS:   1234 kB").
func statusField(pid int, file, key string) (int64, error) {
	path := fmt.Sprintf("/proc/%d/%s", pid, file)
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("read memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, key) {
			continue
		}
		fields := strings.Fields(line[len(key):])
		if len(fields) == 0 {
			break
		}
		v, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s %s: %w", path, key, err)
		}
		return v, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	return 0, fmt.Errorf("%s: no %s line", path, key)
}
