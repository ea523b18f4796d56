package de265

import (
	"errors"
	"os"
	"sync"
	"testing"

	"github.com/serverless-architect/serverless-architect/internal/thumbnail/planar"
)

// halves reads testdata/halves-64x64.nals: the parameter sets and slice of a 64×64 HEIC
// (heif-enc, black left half, white right half, 4:2:0), as the thumbnail package
// extracts them for Decode.
func halves(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/halves-64x64.nals")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestDecode: the picture comes back at its size, layout and colour description, with
// planes where they should be. (A build whose parameter-set parsing is miscompiled
// gives no picture at all.)
func TestDecode(t *testing.T) {
	nals := halves(t)
	err := Decode(nals, 1<<20, func(p *planar.Picture) error {
		if p.Width != 64 || p.Height != 64 || p.BitDepth != 8 || p.Layout != planar.Layout420 {
			t.Errorf("picture %d×%d, %d bits, layout %d; want 64×64, 8 bits, 4:2:0", p.Width, p.Height, p.BitDepth, p.Layout)
		}
		if len(p.Cb) < 31*p.CStride+32 || len(p.Cr) != len(p.Cb) || p.YStride < 64 {
			t.Fatalf("planes %d, %d, %d bytes, strides %d, %d", len(p.Y), len(p.Cb), len(p.Cr), p.YStride, p.CStride)
		}
		for y := 0; y < 64; y += 8 {
			left, right := p.Y[y*p.YStride+4], p.Y[y*p.YStride+60]
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
	if err := Decode(nals, 1<<20, func(*planar.Picture) error { return stop }); err != stop {
		t.Errorf("callback error: got %v", err)
	}
}

// TestDecodeRefuses: data that is not HEVC, a picture over the pixel limit, a cut
// slice and lengths that run past the data are errors wrapping ErrDecode, never a
// crash or a call back.
func TestDecodeRefuses(t *testing.T) {
	nals := halves(t)
	never := func(*planar.Picture) error { t.Error("called back"); return nil }
	for name, tc := range map[string]struct {
		data      []byte
		maxPixels int
	}{
		"not HEVC":        {AppendNAL(nil, []byte("<html><body>hello</body></html>")), 1 << 20},
		"over the limit":  {nals, 64*64 - 1},
		"no slice":        {nals[:len(nals)/8], 1 << 20},
		"length too long": {append([]byte{0, 0, 1, 0}, nals[4:64]...), 1 << 20},
		"empty":           {nil, 1 << 20},
	} {
		if err := Decode(tc.data, tc.maxPixels, never); !errors.Is(err, ErrDecode) {
			t.Errorf("%s: %v, want ErrDecode", name, err)
		}
	}
}

// TestDecodeConcurrently: decodes at the same time use instances of their own.
func TestDecodeConcurrently(t *testing.T) {
	nals := halves(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			errs[i] = Decode(nals, 1<<20, func(p *planar.Picture) error {
				if p.Y[4] > 24 || p.Y[60] < 232 {
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
