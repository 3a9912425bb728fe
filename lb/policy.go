package lb

import (
	"fmt"
	"strings"
)

// Policy names a backend selection algorithm.
type Policy string

const (
	// RoundRobin is nginx's smooth weighted round robin: over a cycle each
	// backend is picked Weight times, spread out rather than in bursts
	// (weights 5,1,1 give a a b a c a a). It is the default.
	RoundRobin Policy = "round_robin"

	// Random is the power of two choices: two candidates are drawn at
	// random in proportion to their weights and the one with the lower
	// Active()/Weight wins.
	Random Policy = "random"

	// LeastConn picks the backend with the lowest Active()/Weight. Ties
	// are broken by rotating the starting point of the scan, so idle
	// backends share the load in turn.
	LeastConn Policy = "least_conn"

	// Hash is ketama consistent hashing of the caller's key, 160 ring
	// points per unit of weight. Removing or failing one backend of N
	// moves only that backend's ~1/N share of keys; the rest stay put.
	// When the key's owner is unhealthy or excluded, the ring is walked to
	// the next distinct eligible backend. An empty key falls back to
	// round robin, as nginx's hash does.
	Hash Policy = "hash"
)

// ParsePolicy parses a policy name as written in configuration. Case is
// ignored and '-' may stand for '_'; "" is an error.
func ParsePolicy(s string) (Policy, error) {
	norm := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_")
	switch p := Policy(norm); p {
	case RoundRobin, Random, LeastConn, Hash:
		return p, nil
	}
	return "", fmt.Errorf("%w: unknown policy %q (want round_robin, random, least_conn or hash)", ErrInvalidConfig, s)
}

// String returns the policy's name.
func (p Policy) String() string { return string(p) }
