// Package fuzz holds one go-test fuzz target per parser sluice exposes to
// peers (PROXY headers, and the others as they are added), each feeding
// arbitrary bytes through the same entry point sluice uses and checking
// invariants beyond "does not panic". It has no code of its own; the targets
// live in *_test.go files, and their seeds both in f.Add calls and in
// testdata/fuzz/<Target>/, so they run as regression tests too.
//
// `go test ./fuzz` replays the seed corpus; `fuzz/run.sh SECONDS` fuzzes
// every target in turn:
//
//	go test ./fuzz                 # seeds only, part of the normal test run
//	fuzz/run.sh 60                 # each Fuzz* target for 60 s, stops at the first failure
//	go test ./fuzz -run '^$' -fuzz '^FuzzProxyHeader$' -fuzztime 30s
package fuzz
