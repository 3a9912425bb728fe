package main

import "github.com/sluice-proxy/sluice/connfilter"

// The filter: and socket: sections, shared by tcp: and http: services.

// filter validates a filter: section at fp.
func (v *validator) filter(fp []any, s *filterSection) (FilterConfig, error) {
	var f FilterConfig
	var err error
	if f.Allow, err = v.prefixes(at(fp, "allow"), s.Allow); err != nil {
		return f, err
	}
	if f.Deny, err = v.prefixes(at(fp, "deny"), s.Deny); err != nil {
		return f, err
	}
	f.AllowFile, f.DenyFile = s.AllowFile, s.DenyFile
	for _, file := range []struct {
		key  string
		path string
	}{{"allow_file", f.AllowFile}, {"deny_file", f.DenyFile}} {
		if file.path == "" {
			continue
		}
		if _, err := connfilter.LoadCIDRFile(file.path); err != nil {
			return f, v.fail(at(fp, file.key), "%v", err)
		}
	}
	for _, n := range []struct {
		key string
		val int
	}{{"max_conns", s.MaxConns}, {"max_conns_per_ip", s.MaxConnsPerIP}, {"accept_burst_per_ip", s.AcceptBurst}} {
		if n.val < 0 {
			return f, v.fail(at(fp, n.key), "must not be negative")
		}
	}
	if s.AcceptRatePerIP < 0 {
		return f, v.fail(at(fp, "accept_rate_per_ip"), "must not be negative")
	}
	f.MaxConns, f.MaxConnsPerIP = s.MaxConns, s.MaxConnsPerIP
	f.AcceptRatePerIP, f.AcceptBurstPerIP = s.AcceptRatePerIP, s.AcceptBurst // 0: connfilter.DefaultBurst
	return f, nil
}

// socket validates a socket: section at sp.
func (v *validator) socket(sp []any, s *socketSection) (SocketConfig, error) {
	c := SocketConfig{ReusePort: s.ReusePort, NoDelay: true}
	var err error
	if s.NoDelay != nil {
		c.NoDelay = *s.NoDelay
	}
	// TCP keep-alive is off unless asked for, as in HAProxy and nginx: it
	// costs four setsockopt calls per socket, eight per proxied connection.
	switch s.KeepAlive {
	case "", "off", "0", "0s":
		c.KeepAlive = -1
	default:
		if c.KeepAlive, err = v.duration(at(sp, "keepalive"), s.KeepAlive, 0); err != nil {
			return c, err
		}
	}
	for _, n := range []struct {
		key string
		val int
	}{{"fast_open", s.FastOpen}, {"backlog", s.Backlog}, {"recv_buffer", s.RecvBuffer}, {"send_buffer", s.SendBuffer}} {
		if n.val < 0 {
			return c, v.fail(at(sp, n.key), "must not be negative")
		}
	}
	c.FastOpen, c.Backlog = s.FastOpen, s.Backlog
	c.RecvBuffer, c.SendBuffer = s.RecvBuffer, s.SendBuffer
	return c, nil
}
