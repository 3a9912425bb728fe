//go:build race

package udpproxy

// raceEnabled: the race detector allocates on its own.
const raceEnabled = true
