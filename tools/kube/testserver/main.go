// Command testserver is the HTTP server of modelstack's cluster tests (tests/cluster/): a static
// binary that scripts/cluster.sh builds and the tests put into a one-file image, so no base image
// or registry is needed.
//
//	GET /healthz      200 "ok"
//	GET /cpu?ms=N     spins one core for N milliseconds (at most 10000), then answers
//	GET /fetch?url=U  fetches http URL U itself (5 s timeout) and answers "<NAME> <hostname> -> <body>"
//	anything else     200 "<NAME> <hostname>\n" (NAME from the environment; hostname = pod name)
//
// It listens on :$PORT (8080 when unset) and stops on SIGTERM.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	name := os.Getenv("NAME")
	host, _ := os.Hostname()
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/cpu", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		if ms < 0 {
			ms = 0
		}
		if ms > 10000 {
			ms = 10000
		}
		deadline := time.Now().Add(time.Duration(ms) * time.Millisecond)
		n := 0
		for time.Now().Before(deadline) {
			n++
		}
		fmt.Fprintf(w, "%s %s spun %d ms\n", name, host, ms)
	})
	fetcher := &http.Client{Timeout: 5 * time.Second}
	mux.HandleFunc("/fetch", func(w http.ResponseWriter, r *http.Request) {
		target := r.URL.Query().Get("url")
		if !strings.HasPrefix(target, "http://") {
			http.Error(w, "url must be an http:// URL", http.StatusBadRequest)
			return
		}
		resp, err := fetcher.Get(target)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if err != nil || resp.StatusCode != http.StatusOK {
			http.Error(w, fmt.Sprintf("%s: status %d, %v", target, resp.StatusCode, err), http.StatusBadGateway)
			return
		}
		fmt.Fprintf(w, "%s %s -> %s\n", name, host, strings.TrimSpace(string(body)))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "%s %s\n", name, host)
	})
	server := &http.Server{Addr: ":" + port, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
	}()
	if err := server.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
