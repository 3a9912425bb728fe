package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// fileConfig is the YAML document as written. Durations, addresses and
// enumerations stay strings here; validate turns them into typed values and
// reports any fault with the key's path and line.
type fileConfig struct {
	Metrics   *metricsSection  `yaml:"metrics"`
	Log       logSection       `yaml:"log"`
	Shutdown  shutdownSection  `yaml:"shutdown"`
	Lifecycle lifecycleSection `yaml:"lifecycle"`
	TCP       []tcpSection     `yaml:"tcp"`
	UDP       []udpSection     `yaml:"udp"`
	HTTP      []httpSection    `yaml:"http"`
}

type udpSection struct {
	Name          string            `yaml:"name"`
	Listen        []string          `yaml:"listen"`
	Upstreams     []upstreamSection `yaml:"upstreams"`
	Balance       string            `yaml:"balance"`
	IdleTimeout   string            `yaml:"idle_timeout"`
	MaxSessions   int               `yaml:"max_sessions"`
	MaxDatagram   int               `yaml:"max_datagram_size"`
	Workers       int               `yaml:"workers"`
	Filter        udpFilterSection  `yaml:"filter"`
	ProxyProtocol udpProxySection   `yaml:"proxy_protocol"`
}

type udpFilterSection struct {
	Allow             []string `yaml:"allow"`
	Deny              []string `yaml:"deny"`
	SessionRatePerIP  float64  `yaml:"session_rate_per_ip"`
	SessionBurstPerIP int      `yaml:"session_burst_per_ip"`
}

type udpProxySection struct {
	Send string `yaml:"send"`
}

type metricsSection struct {
	Listen string `yaml:"listen"`
	Path   string `yaml:"path"`
}

type logSection struct {
	Level     string `yaml:"level"`
	Format    string `yaml:"format"`
	AccessLog *bool  `yaml:"access_log"`
}

type shutdownSection struct {
	Grace string `yaml:"grace"`
}

type lifecycleSection struct {
	UpgradeSocket string `yaml:"upgrade_socket"`
}

type tcpSection struct {
	Name          string            `yaml:"name"`
	Protocol      string            `yaml:"protocol"`
	Listen        []string          `yaml:"listen"`
	Upstreams     []upstreamSection `yaml:"upstreams"`
	Balance       string            `yaml:"balance"`
	ProxyProtocol proxySection      `yaml:"proxy_protocol"`
	Filter        filterSection     `yaml:"filter"`
	Timeouts      timeoutsSection   `yaml:"timeouts"`
	Health        *healthSection    `yaml:"health"`
	Failover      failoverSection   `yaml:"failover"`
	Socket        socketSection     `yaml:"socket"`
	Source        string            `yaml:"source"`
	Vmux          *vmuxSection      `yaml:"vmux"`
	TLS           *tlsSection       `yaml:"tls"`
	Routes        []tcpRouteSection `yaml:"routes"`
	HelloTimeout  string            `yaml:"hello_timeout"`
}

// vmuxSection is the vmux: section of a protocol: vmux service: the time
// and memory limits of its sessions.
type vmuxSection struct {
	HandshakeTimeout string `yaml:"handshake_timeout"`
	FrameTimeout     string `yaml:"frame_timeout"`
	IdleTimeout      string `yaml:"idle_timeout"`
	MaxStreams       *int   `yaml:"max_streams"`
	StreamWindow     string `yaml:"stream_window"` // bytes, or a size: 64KiB, 1MiB
}

type upstreamSection struct {
	Addr   string              `yaml:"addr"`
	Weight *int                `yaml:"weight"`
	TLS    *upstreamTLSSection `yaml:"tls"`
	// http services only
	Protocol     string `yaml:"protocol"`
	MaxStreams   *int   `yaml:"max_streams"`
	PingInterval string `yaml:"ping_interval"`
}

type proxySection struct {
	Accept        bool     `yaml:"accept"`
	Trusted       []string `yaml:"trusted"`
	Send          string   `yaml:"send"`
	HeaderTimeout string   `yaml:"header_timeout"`
}

type filterSection struct {
	Allow           []string `yaml:"allow"`
	Deny            []string `yaml:"deny"`
	AllowFile       string   `yaml:"allow_file"`
	DenyFile        string   `yaml:"deny_file"`
	MaxConns        int      `yaml:"max_conns"`
	MaxConnsPerIP   int      `yaml:"max_conns_per_ip"`
	AcceptRatePerIP float64  `yaml:"accept_rate_per_ip"`
	AcceptBurst     int      `yaml:"accept_burst_per_ip"`
}

type timeoutsSection struct {
	Connect string `yaml:"connect"`
	Idle    string `yaml:"idle"`
}

type healthSection struct {
	Interval string `yaml:"interval"`
	Timeout  string `yaml:"timeout"`
	Rise     int    `yaml:"rise"`
	Fall     int    `yaml:"fall"`
}

type failoverSection struct {
	Tries  int    `yaml:"tries"`
	Budget string `yaml:"budget"`
}

type socketSection struct {
	ReusePort  bool   `yaml:"reuse_port"`
	NoDelay    *bool  `yaml:"no_delay"`
	KeepAlive  string `yaml:"keepalive"`
	FastOpen   int    `yaml:"fast_open"`
	Backlog    int    `yaml:"backlog"`
	RecvBuffer int    `yaml:"recv_buffer"`
	SendBuffer int    `yaml:"send_buffer"`
}

// ConfigError is an invalid configuration: the file, the line and the key
// path of the fault.
type ConfigError struct {
	File string
	Line int
	Key  string
	Msg  string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		b.WriteString(": " + e.Key)
	}
	b.WriteString(": " + e.Msg)
	return b.String()
}

// ErrConfig is matched by every configuration error.
var ErrConfig = errors.New("invalid config")

// Is makes errors.Is(err, ErrConfig) true for a *ConfigError.
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

// loadConfig reads and validates the YAML file at path.
func loadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := parseConfig(path, data)
	if err != nil {
		return nil, err
	}
	cfg.Path = path
	return cfg, nil
}

var (
	yamlLineRE     = regexp.MustCompile(`line (\d+): (.*)`)
	unknownFieldRE = regexp.MustCompile(`^field (\S+) not found in type`)
)

// findKey returns the path to the mapping key named key on line, or nil.
func findKey(n *yaml.Node, key string, line int, path []any) []any {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if p := findKey(c, key, line, path); p != nil {
				return p
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Value == key && k.Line == line {
				return at(path, key)
			}
			if p := findKey(n.Content[i+1], key, line, at(path, k.Value)); p != nil {
				return p
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if p := findKey(c, key, line, at(path, i)); p != nil {
				return p
			}
		}
	}
	return nil
}

// parseConfig decodes data strictly (unknown keys are errors) and validates it.
func parseConfig(name string, data []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, &ConfigError{File: name, Line: line, Msg: m[2]}
		}
		return nil, &ConfigError{File: name, Msg: err.Error()}
	}
	var fc fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			// Report the first fault the way every other one is reported.
			if m := yamlLineRE.FindStringSubmatch(te.Errors[0]); m != nil {
				line, _ := strconv.Atoi(m[1])
				if u := unknownFieldRE.FindStringSubmatch(m[2]); u != nil {
					path := findKey(&root, u[1], line, nil)
					return nil, &ConfigError{File: name, Line: line, Key: keyString(path), Msg: "unknown key"}
				}
				return nil, &ConfigError{File: name, Line: line, Msg: m[2]}
			}
		}
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, &ConfigError{File: name, Line: line, Msg: m[2]}
		}
		return nil, &ConfigError{File: name, Msg: err.Error()}
	}
	v := &validator{file: name, root: &root}
	cfg, err := v.config(&fc)
	if err != nil {
		return nil, err
	}
	cfg.Hash = configHash(data)
	return cfg, nil
}

// validator turns a fileConfig into a Config, naming the key and line of
// the first fault.
type validator struct {
	file string
	root *yaml.Node
}

// fail builds a ConfigError for the key at path (strings for mapping keys,
// ints for sequence indexes).
func (v *validator) fail(path []any, format string, args ...any) error {
	return &ConfigError{File: v.file, Line: v.line(path), Key: keyString(path), Msg: fmt.Sprintf(format, args...)}
}

func keyString(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch p := p.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p)
		case int:
			fmt.Fprintf(&b, "[%d]", p)
		}
	}
	return b.String()
}

// node returns the value at path, or nil when a key or index on it is
// missing.
func (v *validator) node(path []any) *yaml.Node {
	n, _, ok := v.walk(path)
	if !ok {
		return nil
	}
	return n
}

// line finds the line of the deepest node on path that exists.
func (v *validator) line(path []any) int {
	_, line, _ := v.walk(path)
	return line
}

// walk follows path from the document's root. It returns the deepest node
// reached, the line of its key (or item), and whether all of path exists.
func (v *validator) walk(path []any) (*yaml.Node, int, bool) {
	n := v.root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch p := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == p {
						line = n.Content[i].Line
						next = n.Content[i+1]
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && p >= 0 && p < len(n.Content) {
				next = n.Content[p]
				line = next.Line
			}
		}
		if next == nil {
			return n, line, false
		}
		n = next
	}
	return n, line, true
}

func at(path []any, more ...any) []any {
	p := make([]any, 0, len(path)+len(more))
	return append(append(p, path...), more...)
}

func (v *validator) duration(path []any, s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, v.fail(path, "invalid duration %q (want e.g. 5s, 1m30s)", s)
	}
	return d, nil
}

func (v *validator) prefixes(path []any, list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for i, s := range list {
		p, err := parsePrefix(s)
		if err != nil {
			return nil, v.fail(at(path, i), "invalid CIDR or IP %q", s)
		}
		out = append(out, p)
	}
	return out, nil
}

// parsePrefix accepts a CIDR or a bare IP (a /32 or /128).
func parsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}
