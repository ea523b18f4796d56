package dav1d

import (
	"encoding/binary"
	"errors"
	"os"
	"sync"
	"testing"
)

// mdat is the payload of the file's mdat box: for this one-item AVIF, the AV1 OBUs.
func mdat(t *testing.T, b []byte) []byte {
	t.Helper()
	for len(b) >= 8 {
		n := int(binary.BigEndian.Uint32(b))
		if n < 8 || n > len(b) {
			break
		}
		if string(b[4:8]) == "mdat" {
			return b[8:n]
		}
		b = b[n:]
	}
	t.Fatal("no mdat box")
	return nil
}

// TestDecode: a 64×48 AVIF (heif-enc, black left half, white right half, 4:2:0) decodes
// to its size, layout and colour description, with planes where they should be.
func TestDecode(t *testing.T) {
	b, err := os.ReadFile("testdata/halves-64x48.avif")
	if err != nil {
		t.Fatal(err)
	}
	obus := mdat(t, b)
	err = Decode(obus, 1<<20, func(p *Picture) error {
		if p.Width != 64 || p.Height != 48 || p.BitDepth != 8 || p.Layout != Layout420 {
			t.Errorf("picture %d×%d, %d bits, layout %d; want 64×48, 8 bits, 4:2:0", p.Width, p.Height, p.BitDepth, p.Layout)
		}
		if len(p.Cb) < 23*p.CStride+32 || len(p.Cr) != len(p.Cb) || p.YStride < 64 {
			t.Fatalf("planes %d, %d, %d bytes, strides %d, %d", len(p.Y), len(p.Cb), len(p.Cr), p.YStride, p.CStride)
		}
		for y := 0; y < 48; y += 8 {
			left, right := p.Y[y*p.YStride+4], p.Y[y*p.YStride+60]
			if left > 24 || right < 232 {
				t.Errorf("row %d: luma %d on the black half, %d on the white half", y, left, right)
			}
			// Grey has neutral chroma.
			if cb := p.Cb[(y/2)*p.CStride+2]; cb < 118 || cb > 138 {
				t.Errorf("row %d: Cb %d on the black half, want about 128", y, cb)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A callback's error comes back as it is.
	stop := errors.New("stop")
	if err := Decode(obus, 1<<20, func(*Picture) error { return stop }); err != stop {
		t.Errorf("callback error: got %v", err)
	}
}

// TestDecodeRefuses: data that is not AV1, a picture over the pixel limit and a cut
// frame are errors wrapping ErrDecode, never a crash.
func TestDecodeRefuses(t *testing.T) {
	b, err := os.ReadFile("testdata/halves-64x48.avif")
	if err != nil {
		t.Fatal(err)
	}
	obus := mdat(t, b)
	never := func(*Picture) error { t.Error("called back"); return nil }
	for name, tc := range map[string]struct {
		data      []byte
		maxPixels int
	}{
		"not AV1":        {[]byte("<html><body>hello</body></html>"), 1 << 20},
		"over the limit": {obus, 64*48 - 1},
		"truncated":      {obus[:len(obus)/2], 1 << 20},
		"empty":          {nil, 1 << 20},
	} {
		if err := Decode(tc.data, tc.maxPixels, never); !errors.Is(err, ErrDecode) {
			t.Errorf("%s: %v, want ErrDecode", name, err)
		}
	}
}

// TestDecodeConcurrently: decodes at the same time use instances of their own.
func TestDecodeConcurrently(t *testing.T) {
	b, err := os.ReadFile("testdata/halves-64x48.avif")
	if err != nil {
		t.Fatal(err)
	}
	obus := mdat(t, b)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			errs[i] = Decode(obus, 1<<20, func(p *Picture) error {
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
