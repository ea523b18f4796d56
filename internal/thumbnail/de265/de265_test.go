package de265

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/serverless-architect/serverless-architect/internal/thumbnail/planar"
	"github.com/serverless-architect/serverless-architect/internal/thumbnail/planar/planartest"
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
	planartest.CheckHalves(t, func(fn func(*planar.Picture) error) error { return Decode(nals, 1<<20, fn) }, 64, 64)
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
	planartest.CheckConcurrent(t, func(fn func(*planar.Picture) error) error { return Decode(nals, 1<<20, fn) })
}

// TestDecoderKeepsItsInstance: one Decoder decodes picture after picture, with the
// loop filters or without, and a refused or faulty picture in between leaves the next
// one decoded right (after a trap the instance is replaced).
func TestDecoderKeepsItsInstance(t *testing.T) {
	nals := halves(t)
	never := func(*planar.Picture) error { t.Error("called back"); return nil }
	for _, skip := range []bool{false, true} {
		d := NewDecoder(Options{SkipLoopFilters: skip})
		check := func() {
			t.Helper()
			planartest.CheckHalves(t, func(fn func(*planar.Picture) error) error { return d.Decode(nals, 1<<20, fn) }, 64, 64)
		}
		check()
		if err := d.Decode(AppendNAL(nil, []byte("not HEVC at all")), 1<<20, never); !errors.Is(err, ErrDecode) {
			t.Errorf("skip %v: garbage: %v, want ErrDecode", skip, err)
		}
		check()
		if err := d.Decode(nals, 64*64-1, never); !errors.Is(err, ErrDecode) {
			t.Errorf("skip %v: over the limit: %v, want ErrDecode", skip, err)
		}
		check()
		d.Close()
		check() // a closed Decoder makes a new instance
		d.Close()
	}
}

// TestIntra: the test picture (parameter sets and an IDR slice) is intra; a trailing
// picture's slice, a reserved NAL type, parameter sets alone and lengths that do not
// add up are not.
func TestIntra(t *testing.T) {
	nals := halves(t)
	if !Intra(nals) {
		t.Error("the IDR picture is not intra")
	}
	trail := AppendNAL(bytes.Clone(nals), []byte{1 << 1, 1, 0xAF}) // TRAIL_R
	reserved := AppendNAL(bytes.Clone(nals), []byte{24 << 1, 1, 0})
	paramsOnly := AppendNAL(AppendNAL(nil, []byte{32 << 1, 1, 0}), []byte{33 << 1, 1, 0})
	for name, b := range map[string][]byte{
		"trailing picture": trail, "reserved type": reserved, "parameter sets only": paramsOnly,
		"cut": nals[:len(nals)-1], "empty": nil,
	} {
		if Intra(b) {
			t.Errorf("%s: Intra is true", name)
		}
	}
}
