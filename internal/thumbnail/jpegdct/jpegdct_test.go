package jpegdct

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"os/exec"
	"runtime"
	"testing"

	"github.com/serverless-architect/serverless-architect/internal/imagetest"
)

// variants are one photo as encoders write JPEGs: Go's baseline 4:2:0, and with
// libjpeg-turbo's cjpeg and jpegtran the other subsamplings, grayscale, restart
// intervals, and progressive scripts (spectral selection with successive
// approximation, with restart markers too).
func variants(t *testing.T) map[string][]byte {
	t.Helper()
	src := imagetest.Photo(203, 157, 7) // sizes that are not whole MCUs
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, src, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{"go baseline 4:2:0": buf.Bytes()}
	cjpeg := imagetest.Tool(t, "cjpeg", "libjpeg-turbo-progs")
	jpegtran := imagetest.Tool(t, "jpegtran", "libjpeg-turbo-progs")
	ppm := toPPM(src)
	for name, args := range map[string][]string{
		"4:4:4":                  {"-sample", "1x1"},
		"4:2:2":                  {"-sample", "2x1"},
		"4:4:0":                  {"-sample", "1x2"},
		"4:1:1":                  {"-sample", "4x1"},
		"grayscale":              {"-grayscale"},
		"restart every 2 rows":   {"-restart", "2"},
		"restart every 3 blocks": {"-restart", "3B"},
		"progressive":            {"-progressive"},
		"progressive 4:4:4":      {"-progressive", "-sample", "1x1"},
		"optimised huffman":      {"-optimize"},
	} {
		out[name] = imagetest.Convert(t, cjpeg, nil, ppm, ".ppm", ".jpg", append(args, "-quality", "88", "-outfile", "OUT", "IN")...)
	}
	out["progressive with restarts"] = imagetest.Convert(t, jpegtran, nil, out["go baseline 4:2:0"], ".jpg", ".jpg", "-progressive", "-restart", "1", "-outfile", "OUT", "IN")
	return out
}

func toPPM(m *image.RGBA) []byte {
	b := m.Bounds()
	out := fmt.Appendf(nil, "P6\n%d %d\n255\n", b.Dx(), b.Dy())
	for y := range b.Dy() {
		for x := range b.Dx() {
			i := y*m.Stride + 4*x
			out = append(out, m.Pix[i:i+3]...)
		}
	}
	return out
}

// TestFullScaleMatchesImageJPEG: at 1/1 every plane is image/jpeg's within one level
// (two integer inverse DCTs round differently).
func TestFullScaleMatchesImageJPEG(t *testing.T) {
	for name, b := range variants(t) {
		t.Run(name, func(t *testing.T) {
			want, err := jpeg.Decode(bytes.NewReader(b))
			if err != nil {
				t.Skipf("image/jpeg cannot read it: %v", err) // Go's reader refuses some progressive files with restarts
			}
			got, err := Decode(b, 1)
			if err != nil {
				t.Fatal(err)
			}
			if got.Bounds() != want.Bounds() {
				t.Fatalf("bounds %v, want %v", got.Bounds(), want.Bounds())
			}
			var planes [][2][]byte
			switch w := want.(type) {
			case *image.YCbCr:
				g := got.(*image.YCbCr)
				if g.SubsampleRatio != w.SubsampleRatio {
					t.Fatalf("subsampling %v, want %v", g.SubsampleRatio, w.SubsampleRatio)
				}
				for y := range w.Rect.Dy() {
					for x := range w.Rect.Dx() {
						yi, ci := w.YOffset(x, y), w.COffset(x, y)
						gy, gc := g.YOffset(x, y), g.COffset(x, y)
						planes = append(planes, [2][]byte{{w.Y[yi], w.Cb[ci], w.Cr[ci]}, {g.Y[gy], g.Cb[gc], g.Cr[gc]}})
					}
				}
			case *image.Gray:
				g := got.(*image.Gray)
				for y := range w.Rect.Dy() {
					planes = append(planes, [2][]byte{w.Pix[y*w.Stride : y*w.Stride+w.Rect.Dx()], g.Pix[y*g.Stride : y*g.Stride+w.Rect.Dx()]})
				}
			default:
				t.Fatalf("image/jpeg gave %T", want)
			}
			for _, p := range planes {
				for i := range p[0] {
					if d := int(p[0][i]) - int(p[1][i]); d < -1 || d > 1 {
						t.Fatalf("a sample differs by %d", d)
					}
				}
			}
		})
	}
}

// TestScaledMatchesLibjpeg: at 1/8 the luma is exactly what libjpeg-turbo's own
// scaled decoding (djpeg -scale, integer DCT) gives (block means); at 1/2 and 1/4,
// where the reduced transforms of two implementations round differently, it is at
// least as close as libjpeg's to the full-size image averaged over the same blocks.
func TestScaledMatchesLibjpeg(t *testing.T) {
	djpeg := imagetest.Tool(t, "djpeg", "libjpeg-turbo-progs")
	for name, b := range variants(t) {
		full, err := Decode(b, 1)
		if err != nil {
			t.Fatal(err)
		}
		fl, fs := luma(full)
		for _, s := range []int{2, 4, 8} {
			t.Run(fmt.Sprintf("%s/1:%d", name, s), func(t *testing.T) {
				cmd := exec.Command(djpeg, "-grayscale", "-dct", "int", "-scale", fmt.Sprintf("1/%d", s))
				cmd.Stdin = bytes.NewReader(b)
				pgm, err := cmd.Output()
				if err != nil {
					t.Fatal(err)
				}
				var w, h, maxv int
				if n, err := fmt.Sscanf(string(pgm), "P5\n%d %d\n%d\n", &w, &h, &maxv); n != 3 || err != nil {
					t.Fatalf("djpeg wrote %q", pgm[:min(20, len(pgm))])
				}
				lib := pgm[len(pgm)-w*h:]
				m, err := Decode(b, s)
				if err != nil {
					t.Fatal(err)
				}
				if m.Bounds() != image.Rect(0, 0, w, h) {
					t.Fatalf("bounds %v, djpeg %d×%d", m.Bounds(), w, h)
				}
				ours, stride := luma(m)
				var errOurs, errLib float64
				worst := 0
				for y := range h {
					for x := range w {
						var sum, n float64
						for yy := y * s; yy < min(y*s+s, full.Bounds().Dy()); yy++ {
							for xx := x * s; xx < min(x*s+s, full.Bounds().Dx()); xx++ {
								sum += float64(fl[yy*fs+xx])
								n++
							}
						}
						mean := sum / n
						o, l := float64(ours[y*stride+x]), float64(lib[y*w+x])
						errOurs += abs(o - mean)
						errLib += abs(l - mean)
						worst = max(worst, int(abs(o-l)))
					}
				}
				errOurs /= float64(w * h)
				errLib /= float64(w * h)
				switch {
				case s == 8 && worst != 0:
					t.Errorf("at 1/8 a sample differs from libjpeg's by %d, want identical block means", worst)
				case errOurs > 1.1*errLib+0.1:
					t.Errorf("mean distance to the block means %.2f, libjpeg's %.2f", errOurs, errLib)
				}
			})
		}
	}
}

func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

func luma(m image.Image) ([]byte, int) {
	switch m := m.(type) {
	case *image.YCbCr:
		return m.Y, m.YStride
	case *image.Gray:
		return m.Pix, m.Stride
	}
	return nil, 0
}

// TestInfoAndBudget: the header is read without the scans, and the budget is what
// Decode allocates at each scale.
func TestInfoAndBudget(t *testing.T) {
	for name, b := range variants(t) {
		t.Run(name, func(t *testing.T) {
			in, err := Inspect(b[:min(len(b), 700)])
			if err != nil {
				t.Fatal(err)
			}
			if in.Width != 203 || in.Height != 157 {
				t.Errorf("size %d×%d", in.Width, in.Height)
			}
			for _, s := range []int{1, 2, 4, 8} {
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				if _, err := Decode(b, s); err != nil {
					t.Fatal(err)
				}
				runtime.ReadMemStats(&after)
				if got := after.TotalAlloc - before.TotalAlloc; int64(got) > in.DecodeBytes(s)+64<<10 {
					t.Errorf("1/%d: allocated %d bytes, budgeted %d", s, got, in.DecodeBytes(s))
				}
			}
		})
	}
}

// TestScale picks the largest reduction that keeps the target.
func TestScale(t *testing.T) {
	for _, tc := range []struct{ w, h, tw, th, want int }{
		{4000, 3000, 256, 192, 8}, {4000, 3000, 600, 450, 4}, {4000, 3000, 1200, 900, 2},
		{4000, 3000, 2100, 1575, 1}, {300, 200, 256, 171, 1}, {3000, 4000, 192, 256, 8},
	} {
		if got := Scale(tc.w, tc.h, tc.tw, tc.th); got != tc.want {
			t.Errorf("Scale(%d×%d to %d×%d) = %d, want %d", tc.w, tc.h, tc.tw, tc.th, got, tc.want)
		}
	}
}

// TestHostileInput: truncations at every length class, random byte flips and
// unsupported codings give errors, never a panic or a hang.
func TestHostileInput(t *testing.T) {
	b := variants(t)["progressive"]
	base := variants(t)["go baseline 4:2:0"]
	for _, src := range [][]byte{b, base} {
		for _, n := range []int{10, 100, 300, len(src) / 3, len(src) / 2, len(src) - 3} {
			for _, s := range []int{1, 8} {
				if _, err := Decode(src[:n], s); !errors.Is(err, ErrCorrupt) {
					t.Errorf("cut at %d of %d, 1/%d: %v, want ErrCorrupt", n, len(src), s, err)
				}
			}
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 300 {
		c := bytes.Clone([][]byte{b, base}[i%2])
		for range 1 + rng.IntN(8) {
			c[rng.IntN(len(c))] = byte(rng.IntN(256))
		}
		_, _ = Decode(c, []int{1, 2, 4, 8}[i%4]) // must return, whatever it returns
	}
	arith := bytes.Clone(base)
	if i := bytes.Index(arith, []byte{0xFF, 0xC0}); i > 0 {
		arith[i+1] = 0xC9
	}
	if _, err := Decode(arith, 8); !errors.Is(err, ErrUnsupported) {
		t.Errorf("arithmetic coding: %v, want ErrUnsupported", err)
	}
}
