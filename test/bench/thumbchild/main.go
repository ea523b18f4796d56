// Command thumbchild makes the 256-pixel JPEG thumbnail of one file, as the
// thumbnailer would, and exits: BenchmarkThumbnailVersusVips runs it as a process of
// its own to measure its time and peak memory beside vipsthumbnail's doing the same job
// (one JPEG: the WebP the thumbnailer also encodes would add the one-off compilation
// of libwebp's WebAssembly, which the service does once, at start).
package main

import (
	"fmt"
	"os"

	"github.com/serverless-architect/serverless-architect/internal/thumbnail"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: thumbchild IN OUT.jpg")
		os.Exit(2)
	}
	b, err := os.ReadFile(os.Args[1])
	if err == nil {
		var res thumbnail.Result
		o := thumbnail.DefaultOptions
		o.WebP = false
		if res, err = thumbnail.Make(b, o); err == nil {
			err = os.WriteFile(os.Args[2], res.Renditions[0].JPEG, 0o644)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "thumbchild:", err)
		os.Exit(1)
	}
}
