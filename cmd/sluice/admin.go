package main

import (
	"fmt"
	"net/http"
)

// adminRoutes adds the operator's endpoints to the metrics listener:
// GET /-/healthy (the process answers), GET /-/ready (every listener is
// bound and serving, and services with active health checks have had their
// first round; 503 naming the service otherwise), POST /-/reload (as SIGHUP; the answer says whether
// it applied, and why not).
func (a *app) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		// The admin listener serves only once start has bound and started
		// every service, and a reload swaps them whole; services with
		// active health checks wait for their first round.
		ss := a.currentServices()
		for _, s := range ss {
			if err := s.ready(); err != nil {
				http.Error(w, fmt.Sprintf("not ready: %s %s: %v", s.kind(), s.name(), err), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintf(w, "ready: %d services\n", len(ss))
	})
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, r *http.Request) {
		reply := make(chan error, 1)
		select {
		case a.reloads <- reply:
		case <-r.Context().Done():
			return
		}
		if err := <-reply; err != nil {
			http.Error(w, "reload failed: "+err.Error(), http.StatusUnprocessableEntity)
			return
		}
		fmt.Fprintln(w, "reloaded")
	})
}
