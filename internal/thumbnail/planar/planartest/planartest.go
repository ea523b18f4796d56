// Package planartest checks the WebAssembly decoders of package planar (dav1d,
// libde265) on their test picture: w×h, black on the left half, white on the right,
// 8-bit 4:2:0.
package planartest

import (
	"errors"
	"sync"
	"testing"

	"github.com/serverless-architect/serverless-architect/internal/thumbnail/planar"
)

// Decoder is a package's Decode with its input bound.
type Decoder func(fn func(*planar.Picture) error) error

// CheckHalves decodes the test picture and checks its size, layout and planes (luma
// dark left and bright right, neutral chroma), then that the callback's error comes
// back as it is.
func CheckHalves(t *testing.T, decode Decoder, w, h int) {
	t.Helper()
	err := decode(func(p *planar.Picture) error {
		if p.Width != w || p.Height != h || p.BitDepth != 8 || p.Layout != planar.Layout420 {
			t.Errorf("picture %d×%d, %d bits, layout %d; want %d×%d, 8 bits, 4:2:0", p.Width, p.Height, p.BitDepth, p.Layout, w, h)
		}
		if len(p.Cb) < (h/2-1)*p.CStride+w/2 || len(p.Cr) != len(p.Cb) || p.YStride < w {
			t.Fatalf("planes %d, %d, %d bytes, strides %d, %d", len(p.Y), len(p.Cb), len(p.Cr), p.YStride, p.CStride)
		}
		for y := 0; y < h; y += 8 {
			left, right := p.Y[y*p.YStride+4], p.Y[y*p.YStride+w-4]
			if left > 24 || right < 232 {
				t.Errorf("row %d: luma %d on the black half, %d on the white half", y, left, right)
			}
			if cb := p.Cb[(y/2)*p.CStride+2]; cb < 118 || cb > 138 {
				t.Errorf("row %d: Cb %d on the black half, want about 128", y, cb)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := errors.New("stop")
	if err := decode(func(*planar.Picture) error { return stop }); err != stop {
		t.Errorf("callback error: got %v", err)
	}
}

// CheckConcurrent decodes the test picture on 8 goroutines at once: each decode has
// an instance of its own, so each sees the right picture.
func CheckConcurrent(t *testing.T, decode Decoder) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			errs[i] = decode(func(p *planar.Picture) error {
				if p.Y[4] > 24 || p.Y[p.Width-4] < 232 {
					return errors.New("wrong picture")
				}
				return nil
			})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("decode %d: %v", i, err)
		}
	}
}
