package thumbnail

import (
	"bytes"
	"errors"
	"image"
	"strings"
	"testing"

	"github.com/serverless-architect/serverless-architect/internal/imagetest"
)

// TestAVIFGrid: a grid AVIF (2×3 tiles, the right column and bottom row overhanging
// the 640×470 picture) is decoded by dav1d tile by tile in parallel, within its
// reservation's plan, into the same thumbnail libavif (which composes grids itself)
// makes of it, and close to the source.
func TestAVIFGrid(t *testing.T) {
	enc := imagetest.Tool(t, "heif-enc", "libheif-examples")
	const rows, cols, tw, th, w, h = 2, 3, 224, 240, 640, 470
	src := imagetest.Photo(w, h, 11)
	tiles := imagetest.GridTiles(src, rows, cols, tw, th, func(m image.Image) []byte {
		return imagetest.Convert(t, enc, m, nil, ".png", ".avif", "-A", "-q", "90", "-p", "speed=9", "-o", "OUT", "IN")
	})
	b := imagetest.GridHEIF(t, true, tiles, rows, cols, w, h)
	hd, err := Inspect(b, DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	if hd.Format != AVIF || hd.Width != w || hd.Height != h || hd.heif.tiles != rows*cols {
		t.Fatalf("header %+v", hd)
	}
	if want := hd.heif.planesGridBytes() + resampleBytes(256, 188); hd.DecodeBytes != want {
		t.Errorf("reserved %d bytes, want the dav1d grid's %d", hd.DecodeBytes, want)
	}
	fast, ok, err := decodePlanes(hd, b, DefaultOptions.Widths, DefaultLimits.MaxPixels)
	if err != nil || !ok {
		t.Fatalf("decodePlanes: taken %v, %v", ok, err)
	}
	m, _, err := decode(hd, b)
	if err != nil {
		t.Fatal(err)
	}
	slow := shrink(m, hd.boxFactor(DefaultOptions.Widths, w, h))
	if fast.Rect != slow.Rect {
		t.Fatalf("dav1d path %v, libavif path %v", fast.Rect, slow.Rect)
	}
	var worst int
	for i := range fast.Pix {
		worst = max(worst, abs(int(fast.Pix[i])-int(slow.Pix[i])))
	}
	if worst > 3 {
		t.Errorf("dav1d grid differs from libavif's by up to %d levels", worst)
	}
	out := thumbnailJPEG(t, b, DefaultOptions)
	if got := imagetest.SSIM(out, reference(src, 256, 188)); got < 0.9 {
		t.Errorf("SSIM against the source %.3f, want ≥ 0.9", got)
	}
	// A tile whose data is not AV1 (every OBU header's forbidden bit set): the whole
	// image is refused, never a crash or a thumbnail with a hole.
	bad := bytes.Clone(b)
	e := hd.heif.items[4].extents[0]
	for i := e[0]; i < e[0]+e[1]; i++ {
		bad[i] = 0xFF
	}
	if _, err := Make(bad, DefaultOptions); !errors.Is(err, ErrNotImage) || !strings.Contains(err.Error(), "AVIF grid") {
		t.Errorf("a garbled tile: %v, want ErrNotImage from the grid", err)
	}
}
