// Command revproxy is a reference for the gateway's proxy-hop benchmark: the standard
// library's httputil.ReverseProxy in front of UPSTREAM, tuned as a careful user would
// tune it (keep-alive connections for every concurrent request, no transparent gzip,
// a pool of 32 KiB copy buffers), with /readyz.
package main

import (
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"sync"
)

// bufferPool lends the proxy its copy buffers.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

func main() {
	up, err := url.Parse(os.Getenv("UPSTREAM"))
	if err != nil || up.Host == "" {
		os.Exit(2)
	}
	proxy := httputil.NewSingleHostReverseProxy(up)
	proxy.Transport = &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 1024, DisableCompression: true}
	proxy.BufferPool = &bufferPool{}
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.Handle("/", proxy)
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), mux); err != nil {
		os.Exit(1)
	}
}
