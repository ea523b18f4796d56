// Command fileserver is the reference for the edge benchmark: a bare net/http file
// server (http.FileServer) over the directory DIR, over HTTPS when TLS_CERT_FILE and
// TLS_KEY_FILE are set, with /readyz.
package main

import (
	"net/http"
	"os"
)

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.Handle("/", http.FileServer(http.Dir(os.Getenv("DIR"))))
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
