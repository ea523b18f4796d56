// Command testsvc stands in for a service in devstack's tests: it serves /readyz and
// /env (its environment as JSON) over HTTPS on HOST:PORT with TLS_CERT_FILE and
// TLS_KEY_FILE, exits with status 3 after CRASH_AFTER, and ignores SIGTERM when
// IGNORE_TERM=1.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "testsvc:", err)
		os.Exit(1)
	}
}

func run() error {
	stopOn := []os.Signal{syscall.SIGTERM, os.Interrupt}
	if os.Getenv("IGNORE_TERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
		stopOn = stopOn[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), stopOn...)
	defer stop()
	if d := os.Getenv("CRASH_AFTER"); d != "" {
		after, err := time.ParseDuration(d)
		if err != nil {
			return err
		}
		go func() {
			time.Sleep(after)
			fmt.Println("testsvc: crashing on purpose")
			os.Exit(3)
		}()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		env := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		_ = json.NewEncoder(w).Encode(env)
	})
	srv := &http.Server{Addr: net.JoinHostPort(os.Getenv("HOST"), os.Getenv("PORT")), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServeTLS(os.Getenv("TLS_CERT_FILE"), os.Getenv("TLS_KEY_FILE")) }()
	fmt.Println("testsvc: listening on", srv.Addr)
	fmt.Fprint(os.Stderr, "testsvc: a line on stderr\n")
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	fmt.Println("testsvc: stopping")
	if err := srv.Shutdown(context.Background()); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
