// Package profile starts the CPU profile and the pprof endpoint that the
// HTTP side-by-side proxies (sluicehttp, revproxy) offer, so a run under
// wrk can show where their CPU goes.
//
//	stop, err := profile.Start(*cpuprofile, *pprofAddr)
//	if err != nil { log.Fatal(err) }
//	defer stop()
package profile

import (
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	runtimepprof "runtime/pprof"
)

// Start writes a CPU profile to cpuFile (when not empty) until the
// returned stop runs, and serves net/http/pprof on addr (when not empty)
// until then.
func Start(cpuFile, addr string) (stop func(), err error) {
	var f *os.File
	if cpuFile != "" {
		f, err = os.Create(cpuFile)
		if err != nil {
			return nil, fmt.Errorf("profile: %w", err)
		}
		if err := runtimepprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, fmt.Errorf("profile: %w", err)
		}
	}
	var srv *http.Server
	if addr != "" {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			if f != nil {
				runtimepprof.StopCPUProfile()
				f.Close()
			}
			return nil, fmt.Errorf("profile: %w", err)
		}
		mux := http.NewServeMux()
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		srv = &http.Server{Handler: mux}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Printf("profile: pprof server: %v", err)
			}
		}()
	}
	return func() {
		if f != nil {
			runtimepprof.StopCPUProfile()
			if err := f.Close(); err != nil {
				log.Printf("profile: %v", err)
			}
		}
		if srv != nil {
			srv.Close()
		}
	}, nil
}
