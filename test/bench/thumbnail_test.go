package bench

import (
	"bytes"
	"image"
	"image/jpeg"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	"github.com/serverless-architect/serverless-architect/internal/thumbnail"
)

// photo12MP is a 4000×3000 JPEG (4:2:0, quality 90) with detail everywhere, made once.
var photo12MP = sync.OnceValue(func() []byte {
	m := image.NewYCbCr(image.Rect(0, 0, 4000, 3000), image.YCbCrSubsampleRatio420)
	for y := range 3000 {
		for x := range 4000 {
			m.Y[y*m.YStride+x] = uint8((x*7 + y*13 + (x*y)>>7) & 0xFF)
		}
	}
	for i := range m.Cb {
		m.Cb[i], m.Cr[i] = uint8(i*3), uint8(i*5)
	}
	var buf bytes.Buffer
	_ = jpeg.Encode(&buf, m, &jpeg.Options{Quality: 90})
	return buf.Bytes()
})

// BenchmarkThumbnailVersusVips makes a 256-pixel thumbnail of a 12-megapixel JPEG in
// process and with vipsthumbnail (Debian libvips-tools), alternating, each iteration
// once each, and reports the mean times, their ratio (target: at most 3×) and the Go
// heap peak of one job beside the decoder estimate the memory budget uses (target:
// 150 MB).
func BenchmarkThumbnailVersusVips(b *testing.B) {
	src := photo12MP()
	opts := thumbnail.DefaultOptions
	res, err := thumbnail.Make(src, opts)
	if err != nil {
		b.Fatal(err)
	}
	if got := res.Renditions[0].Size; got != image.Pt(256, 192) {
		b.Fatalf("thumbnail is %v, want 256×192", got)
	}
	peak := heapPeak(func() { _, _ = thumbnail.Make(src, opts) })
	hdr, _ := thumbnail.Inspect(src, opts.Limits)

	vips, err := exec.LookPath("vipsthumbnail")
	if err != nil {
		b.Skip("vipsthumbnail not found (apt-get install -y libvips-tools; make bench does): no reference")
	}
	dir := b.TempDir()
	in := filepath.Join(dir, "in.jpg")
	if err := os.WriteFile(in, src, 0o644); err != nil {
		b.Fatal(err)
	}
	var goSum, vipsSum time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := thumbnail.Make(src, opts); err != nil {
			b.Fatal(err)
		}
		goSum += time.Since(start)
		start = time.Now()
		if out, err := exec.Command(vips, in, "--size", "256x", "-o", filepath.Join(dir, "out.jpg[Q=82]")).CombinedOutput(); err != nil {
			b.Fatalf("vipsthumbnail: %v\n%s", err, out)
		}
		vipsSum += time.Since(start)
	}
	n := float64(b.N)
	b.ReportMetric(float64(goSum.Milliseconds())/n, "go-ms")
	b.ReportMetric(float64(vipsSum.Milliseconds())/n, "vips-ms")
	b.ReportMetric(float64(goSum)/float64(vipsSum), "ratio")
	b.ReportMetric(float64(peak)/(1<<20), "heap-peak-MiB")
	b.ReportMetric(float64(hdr.DecodeBytes+int64(len(src)))/(1<<20), "budgeted-MiB")
}

// heapPeak runs f with the GC made eager and samples the live heap, returning the
// highest value above the starting heap.
func heapPeak(f func()) int64 {
	runtime.GC()
	old := debug.SetGCPercent(10)
	defer debug.SetGCPercent(old)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := int64(ms.HeapAlloc)
	var peak int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var s runtime.MemStats
		for {
			runtime.ReadMemStats(&s)
			peak = max(peak, int64(s.HeapAlloc)-base)
			select {
			case <-done:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	})
	f()
	close(done)
	wg.Wait()
	return peak
}

// BenchmarkThumbnail12MP is the in-process figure alone (go test -bench).
func BenchmarkThumbnail12MP(b *testing.B) {
	src := photo12MP()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := thumbnail.Make(src, thumbnail.DefaultOptions); err != nil {
			b.Fatal(err)
		}
	}
}
