package thumbnail

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"strings"
	"testing"

	"github.com/serverless-architect/serverless-architect/internal/imagetest"
)

// libheifDiff compares the full-size picture this package decodes from an HEIC (the
// path Make takes, with a width that needs no shrinking) with libheif's own decode of
// it (heif-convert), pixel by pixel: worst is the largest difference of any channel,
// off the number of pixels that differ by more than 2 levels, and at the first of
// those.
func libheifDiff(t *testing.T, b []byte, w, h int) (worst, off int, at image.Point) {
	t.Helper()
	conv := imagetest.Tool(t, "heif-convert", "libheif-examples")
	ref, err := png.Decode(bytes.NewReader(imagetest.Convert(t, conv, nil, b, ".heic", ".png", "IN", "OUT")))
	if err != nil {
		t.Fatal(err)
	}
	o := DefaultOptions
	o.Widths = []int{w}
	hd, err := Inspect(b, o)
	if err != nil {
		t.Fatal(err)
	}
	ours, _, err := decodeSmall(hd, b, o.Widths, o.Limits.MaxPixels)
	if err != nil {
		t.Fatal(err)
	}
	if ours.Rect.Size() != image.Pt(w, h) || ref.Bounds().Size() != image.Pt(w, h) {
		t.Fatalf("decoded %v, libheif %v; want %d×%d", ours.Rect.Size(), ref.Bounds().Size(), w, h)
	}
	at = image.Pt(-1, -1)
	for y := range h {
		for x := range w {
			r, g, bl, _ := ref.At(x, y).RGBA()
			p := ours.Pix[y*ours.Stride+4*x:]
			d := max(abs(int(p[0])-int(r>>8)), abs(int(p[1])-int(g>>8)), abs(int(p[2])-int(bl>>8)))
			worst = max(worst, d)
			if d > 2 {
				if off == 0 {
					at = image.Pt(x, y)
				}
				off++
			}
		}
	}
	return worst, off, at
}

// TestHEICFullSizeMatchesLibheif: an HEIC as heif-enc writes it (one item, 4:2:0,
// BT.601 full range), decoded at full size, is libheif's picture to within 2 levels at
// every pixel, from the first one on: gen2brain/heic v0.4.5 handed back planes in
// wasm memory it had already freed, and the allocator's bookkeeping overwrote the
// top-left luma samples.
func TestHEICFullSizeMatchesLibheif(t *testing.T) {
	enc := imagetest.Tool(t, "heif-enc", "libheif-examples")
	for _, size := range []image.Point{{1280, 960}, {642, 482}} {
		t.Run(fmt.Sprintf("%dx%d", size.X, size.Y), func(t *testing.T) {
			src := imagetest.Photo(size.X, size.Y, 17)
			b := imagetest.Convert(t, enc, src, nil, ".png", ".heic", "-q", "90", "-p", "preset=ultrafast", "-o", "OUT", "IN")
			worst, off, at := libheifDiff(t, b, size.X, size.Y)
			if off > 0 {
				t.Errorf("%d pixels differ from libheif's by more than 2 levels (the first at %v), up to %d", off, at, worst)
			}
			t.Logf("largest difference from libheif: %d levels", worst)
		})
	}
}

// TestHEICGridMatchesLibheif: a grid HEIC as a phone stores a large picture (2×3 tiles
// of 256×256, the right column and bottom row overhanging the 640×470 picture) is
// decoded by libde265 tile by tile in parallel, within its reservation, into
// libheif's own picture to within 2 levels at every pixel; a garbled tile refuses the
// whole image.
func TestHEICGridMatchesLibheif(t *testing.T) {
	enc := imagetest.Tool(t, "heif-enc", "libheif-examples")
	const rows, cols, tw, th, w, h = 2, 3, 256, 256, 640, 470
	src := imagetest.Photo(w, h, 23)
	tiles := imagetest.GridTiles(src, rows, cols, tw, th, func(m image.Image) []byte {
		return imagetest.Convert(t, enc, m, nil, ".png", ".heic", "-q", "90", "-p", "preset=ultrafast", "-o", "OUT", "IN")
	})
	b := imagetest.GridHEIF(t, false, tiles, rows, cols, w, h)
	hd, err := Inspect(b, DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	if hd.Format != HEIC || hd.Width != w || hd.Height != h || hd.heif.tiles != rows*cols {
		t.Fatalf("header %+v", hd)
	}
	// heif-enc writes no nclx for HEIC: the first tile's own colour description
	// decides the path after decoding, so the larger of the two amounts is reserved.
	want := max(heifDecodeBytes(HEIC, w, h, 8), hd.heif.planesGridBytes()) + resampleBytes(256, 188)
	if hd.DecodeBytes != want {
		t.Errorf("reserved %d bytes, want the larger of libheif's and libde265's, %d", hd.DecodeBytes, want)
	}
	if _, ok, err := decodePlanes(hd, b, DefaultOptions.Widths, DefaultLimits.MaxPixels); err != nil || !ok {
		t.Fatalf("decodePlanes: taken %v, %v", ok, err)
	}
	worst, off, at := libheifDiff(t, b, w, h)
	if off > 0 {
		t.Errorf("%d pixels differ from libheif's by more than 2 levels (the first at %v), up to %d", off, at, worst)
	}
	// A tile whose data is not HEVC: the whole image is refused, never a crash or a
	// thumbnail with a hole.
	bad := bytes.Clone(b)
	e := hd.heif.items[4].extents[0]
	for i := e[0] + 4; i < e[0]+e[1]; i++ {
		bad[i] = 0xFF
	}
	if _, err := Make(bad, DefaultOptions); !errors.Is(err, ErrNotImage) || !strings.Contains(err.Error(), "HEIC grid") {
		t.Errorf("a garbled tile: %v, want ErrNotImage from the grid", err)
	}
}
