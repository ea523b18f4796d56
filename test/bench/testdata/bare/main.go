// Command bare is the reference for the gateway benchmarks: a bare net/http server that
// answers every request with the same bytes (BODY, application/json), over HTTPS when
// TLS_CERT_FILE and TLS_KEY_FILE are set, and /readyz with ok.
package main

import (
	"net/http"
	"os"
)

func main() {
	body := []byte(os.Getenv("BODY"))
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	addr := "127.0.0.1:" + os.Getenv("PORT")
	var err error
	if cert := os.Getenv("TLS_CERT_FILE"); cert != "" {
		err = http.ListenAndServeTLS(addr, cert, os.Getenv("TLS_KEY_FILE"), mux)
	} else {
		err = http.ListenAndServe(addr, mux)
	}
	if err != nil {
		os.Exit(1)
	}
}
