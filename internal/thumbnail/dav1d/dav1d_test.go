package dav1d

import (
	"encoding/binary"
	"errors"
	"os"
	"testing"

	"github.com/serverless-architect/serverless-architect/internal/thumbnail/planar/planartest"
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
	planartest.CheckHalves(t, func(fn func(*Picture) error) error { return Decode(obus, 1<<20, fn) }, 64, 48)
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
	planartest.CheckConcurrent(t, func(fn func(*Picture) error) error { return Decode(obus, 1<<20, fn) })
}
