// Package imagetest helps tests and benchmarks of image code: photo-like test images
// made on the spot, the command-line encoders (heif-enc, cwebp, cjpeg, jpegtran) that
// turn them into the files phones and cameras write, and SSIM to say how alike two
// images are.
package imagetest

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"
)

// Photo is a deterministic w×h picture with what makes photos hard to compress and to
// shrink well: smooth gradients at several scales, hard edges, fine texture and sensor
// grain. seed varies the content.
func Photo(w, h int, seed uint32) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	hash := func(x, y, s int) float64 {
		n := uint32(x)*374761393 + uint32(y)*668265263 + uint32(s)*1442695041 + seed*2654435761
		n = (n ^ n>>13) * 1274126177
		return float64(n^n>>16) / math.MaxUint32
	}
	noise := func(fx, fy float64, s int) float64 {
		x0, y0 := math.Floor(fx), math.Floor(fy)
		tx, ty := fx-x0, fy-y0
		tx, ty = tx*tx*(3-2*tx), ty*ty*(3-2*ty)
		xi, yi := int(x0), int(y0)
		a, b := hash(xi, yi, s), hash(xi+1, yi, s)
		c, d := hash(xi, yi+1, s), hash(xi+1, yi+1, s)
		return (a*(1-tx)+b*tx)*(1-ty) + (c*(1-tx)+d*tx)*ty
	}
	scale := float64(max(w, h)) / 4000
	cx, cy, r := 0.65*float64(w), 0.4*float64(h), 0.15*float64(max(w, h))
	for y := range h {
		for x := range w {
			var v [3]float64
			for c := range 3 {
				amp, freq := 0.55, 1/(400*scale)
				for o := range 6 {
					v[c] += amp * noise(float64(x)*freq, float64(y)*freq, o*3+c)
					amp *= 0.5
					freq *= 2.3
				}
			}
			dx, dy := float64(x)-cx, float64(y)-cy
			if dx*dx+dy*dy < r*r {
				v[0], v[1] = v[0]*0.35+0.55, v[1]*0.6
			}
			if int(float64(x)/(250*scale)+float64(y)/(250*scale))%7 == 0 {
				v[2] = v[2]*0.4 + 0.5
			}
			// Fine texture (a fabric-like weave) and grain.
			tex := 0.05 * math.Sin(float64(x)*0.9) * math.Sin(float64(y)*0.7)
			i := y*m.Stride + 4*x
			for c := range 3 {
				g := (hash(x, y, 100+c) - 0.5) * 0.06
				m.Pix[i+c] = uint8(math.Max(0, math.Min(255, (v[c]+tex+g)*255)))
			}
			m.Pix[i+3] = 255
		}
	}
	return m
}

// Tool returns the path of a command-line tool. When it is missing the test is
// skipped, unless SA_INTEGRATION is set (make test), where a missing tool is a
// failure: hack/test.sh installs the Debian package named. Under -short (make unit)
// the test is skipped either way: a comparison with an external encoder or reference
// decoder is make test's (these are the slowest tests of the module, a minute and more
// on two cores).
func Tool(tb testing.TB, name, debianPackage string) string {
	tb.Helper()
	if testing.Short() {
		tb.Skipf("uses %s (Debian %s): make test runs it; -short (make unit) leaves out the tests that need an external tool", name, debianPackage)
	}
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv("SA_INTEGRATION") != "" {
		tb.Fatalf("%s not found: install Debian's %s (hack/test.sh and hack/bench.sh do)", name, debianPackage)
	}
	tb.Skipf("%s not found (Debian %s): make test installs it", name, debianPackage)
	return ""
}

// Convert writes m as PNG (or in as given, when m is nil) to a temporary file, runs
// tool with args where "IN" and "OUT" stand for the input and output files, and
// returns the output file's bytes.
func Convert(tb testing.TB, tool string, m image.Image, in []byte, inExt, outExt string, args ...string) []byte {
	tb.Helper()
	dir := tb.TempDir()
	src := filepath.Join(dir, "in"+inExt)
	dst := filepath.Join(dir, "out"+outExt)
	if m != nil {
		var buf bytes.Buffer
		if err := png.Encode(&buf, m); err != nil {
			tb.Fatal(err)
		}
		in = buf.Bytes()
	}
	if err := os.WriteFile(src, in, 0o644); err != nil {
		tb.Fatal(err)
	}
	argv := make([]string, len(args))
	for i, a := range args {
		switch a {
		case "IN":
			argv[i] = src
		case "OUT":
			argv[i] = dst
		default:
			argv[i] = a
		}
	}
	if out, err := exec.Command(tool, argv...).CombinedOutput(); err != nil {
		tb.Fatalf("%s %v: %v\n%s", tool, argv, err, out)
	}
	b, err := os.ReadFile(dst)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// luma is the BT.601 luma of every pixel of m, row by row.
func luma(m image.Image) []float64 {
	b := m.Bounds()
	out := make([]float64, 0, b.Dx()*b.Dy())
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			c := color.NRGBAModel.Convert(m.At(x, y)).(color.NRGBA)
			out = append(out, 0.299*float64(c.R)+0.587*float64(c.G)+0.114*float64(c.B))
		}
	}
	return out
}

// SSIM is the mean structural similarity of the luma of two images of the same size
// (Wang, Bovik, Sheikh and Simoncelli, 2004: an 11×11 Gaussian window of σ 1.5, K1
// 0.01, K2 0.03, L 255). 1 means identical; it returns -1 when the sizes differ.
func SSIM(a, b image.Image) float64 {
	if a.Bounds().Size() != b.Bounds().Size() {
		return -1
	}
	w, h := a.Bounds().Dx(), a.Bounds().Dy()
	x, y := luma(a), luma(b)
	xx, yy, xy := make([]float64, len(x)), make([]float64, len(x)), make([]float64, len(x))
	for i := range x {
		xx[i], yy[i], xy[i] = x[i]*x[i], y[i]*y[i], x[i]*y[i]
	}
	var k [11]float64
	var sum float64
	for i := range k {
		d := float64(i - 5)
		k[i] = math.Exp(-d * d / (2 * 1.5 * 1.5))
		sum += k[i]
	}
	for i := range k {
		k[i] /= sum
	}
	// pass filters along lines of n samples step apart, lines apart from each other,
	// renormalising the window where it leaves the image.
	pass := func(src []float64, lines, lineStep, n, step int) []float64 {
		dst := make([]float64, len(src))
		for l := range lines {
			for c := range n {
				var s, wsum float64
				for i, kv := range k {
					if cc := c + i - 5; cc >= 0 && cc < n {
						s += kv * src[l*lineStep+cc*step]
						wsum += kv
					}
				}
				dst[l*lineStep+c*step] = s / wsum
			}
		}
		return dst
	}
	blur := func(p []float64) []float64 { return pass(pass(p, h, w, w, 1), w, 1, h, w) }
	mx, my, sxx, syy, sxy := blur(x), blur(y), blur(xx), blur(yy), blur(xy)
	const c1, c2 = (0.01 * 255) * (0.01 * 255), (0.03 * 255) * (0.03 * 255)
	var total float64
	for i := range x {
		vx, vy, cov := sxx[i]-mx[i]*mx[i], syy[i]-my[i]*my[i], sxy[i]-mx[i]*my[i]
		total += (2*mx[i]*my[i] + c1) * (2*cov + c2) / ((mx[i]*mx[i] + my[i]*my[i] + c1) * (vx + vy + c2))
	}
	return total / float64(len(x))
}

// HeapPeak runs f with the garbage collector made eager and samples the live heap
// every 2 ms, returning the highest value above the heap before f: what f needed at
// once, give or take what a sample missed.
func HeapPeak(f func()) int64 {
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
