package thumbnail

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"slices"
	"strings"
	"testing"

	"github.com/serverless-architect/serverless-architect/internal/imagetest"
)

// libheifDiff is referenceDiff against libheif's own decode of the HEIC b
// (heif-convert).
func libheifDiff(t *testing.T, b []byte, w, h int) (worst, off int, at image.Point) {
	t.Helper()
	conv := imagetest.Tool(t, "heif-convert", "libheif-examples")
	ref, err := png.Decode(bytes.NewReader(imagetest.Convert(t, conv, nil, b, ".heic", ".png", "IN", "OUT")))
	if err != nil {
		t.Fatal(err)
	}
	return referenceDiff(t, b, ref, w, h)
}

// referenceDiff compares the full-size picture this package decodes from b (the path
// Make takes, with a width that needs no shrinking) with a reference decoder's picture
// ref (8 or 16 bits a channel), pixel by pixel: worst is the largest difference of any
// channel in 8-bit levels, off the number of pixels that differ by more than 2 levels,
// and at the first of those.
func referenceDiff(t *testing.T, b []byte, ref image.Image, w, h int) (worst, off int, at image.Point) {
	t.Helper()
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
	const rows, cols, w, h = 2, 3, 640, 470
	b := heicGrid(t, imagetest.Photo(w, h, 23), rows, cols, 256, "-q", "90", "-p", "preset=ultrafast")
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

// TestHEICSkippedFiltersMatchVips: a thumbnail shrunk enough to decode the HEIC without
// deblocking and SAO (a 1024×768 photo at heif-enc's quality 60 to 128 pixels: a box
// of 4, the smallest that skips them), alone and as a grid, is the thumbnail decoded
// with them to an SSIM of 0.99 or more, and as close to vipsthumbnail's (libheif,
// filters on) as that one is, to within 0.002.
func TestHEICSkippedFiltersMatchVips(t *testing.T) {
	enc := imagetest.Tool(t, "heif-enc", "libheif-examples")
	vips := imagetest.Tool(t, "vipsthumbnail", "libvips-tools")
	const w, h = 1024, 768
	src := imagetest.Photo(w, h, 29)
	o := DefaultOptions
	o.Widths = []int{128}
	args := []string{"-q", "60", "-p", "preset=veryfast", "-o", "OUT", "IN"}
	single := imagetest.Convert(t, enc, src, nil, ".png", ".heic", args...)
	grid := heicGrid(t, src, 3, 4, 256, args[:4]...)
	thumb := func(b []byte) image.Image { return thumbnailJPEG(t, b, o) }
	for name, b := range map[string][]byte{"single": single, "grid": grid} {
		t.Run(name, func(t *testing.T) {
			hd, err := Inspect(b, o)
			if err != nil {
				t.Fatal(err)
			}
			if f := hd.boxFactor(o.Widths, w, h); !hevcCodec.skipFilters(f, hevcData(t, hd, b)...) {
				t.Fatalf("box factor %d: the filters are not skipped", f)
			}
			fast := thumb(b)
			saved := skipFiltersFactor
			skipFiltersFactor = 1 << 30
			filtered := thumb(b)
			skipFiltersFactor = saved
			ref, err := png.Decode(bytes.NewReader(imagetest.Convert(t, vips, nil, b, ".heic", ".png", "IN", "--size", "128x", "-o", "OUT")))
			if err != nil {
				t.Fatal(err)
			}
			withFilters, vsVips, filteredVsVips := imagetest.SSIM(fast, filtered), imagetest.SSIM(fast, ref), imagetest.SSIM(filtered, ref)
			t.Logf("SSIM without the filters: %.4f against with them, %.4f against vips (with them: %.4f)", withFilters, vsVips, filteredVsVips)
			if withFilters < 0.99 || vsVips < filteredVsVips-0.002 {
				t.Errorf("SSIM without the filters: %.4f against with them (want ≥ 0.99), %.4f against vips (want ≥ %.4f, with them less 0.002)",
					withFilters, vsVips, filteredVsVips-0.002)
			}
		})
	}
}

// hevcData is the decoder input of the HEIC's primary item, or of each of its tiles.
func hevcData(t *testing.T, hd Header, b []byte) [][]byte {
	t.Helper()
	ids := []uint32{hd.heif.primary}
	if tiles := hd.heif.items[hd.heif.primary].refs["dimg"]; len(tiles) > 0 {
		ids = tiles
	}
	var out [][]byte
	for _, id := range ids {
		d, ok := hevcCodec.data(hd.heif, b, id)
		if !ok {
			t.Fatalf("item %d: no HEVC data", id)
		}
		out = append(out, d)
	}
	return out
}

// TestHEICMatricesAsLibheif: an HEIC whose nclx names YCgCo (8), BT.2020 constant
// luminance (10) or BT.709 (1), full or limited range, decoded at full size, is
// libheif's picture of the same file to within 2 levels at every pixel (heif-enc codes
// BT.601 samples whatever it is asked for; the nclx added here tells both decoders to
// read them otherwise, so both convert the same samples).
func TestHEICMatricesAsLibheif(t *testing.T) {
	enc := imagetest.Tool(t, "heif-enc", "libheif-examples")
	const w, h = 320, 240
	src := imagetest.Photo(w, h, 31)
	plain := imagetest.Convert(t, enc, src, nil, ".png", ".heic", "-q", "90", "-p", "preset=ultrafast", "-o", "OUT", "IN")
	for _, matrix := range []byte{8, 10, 1} {
		for _, full := range []byte{1, 0} {
			t.Run(fmt.Sprintf("matrix %d full range %d", matrix, full), func(t *testing.T) {
				colr := append([]byte("\x00\x00\x00\x13colrnclx\x00\x01\x00\x0d\x00"), matrix, full<<7)
				b := withTransforms(t, plain, colr)
				if c, ok := mustInspect(t, b).heif.itemNCLX(mustInspect(t, b).heif.primary); !ok || c.matrix != int(matrix) {
					t.Fatalf("nclx %+v, %v", c, ok)
				}
				worst, off, at := libheifDiff(t, b, w, h)
				if off > 0 {
					t.Errorf("%d pixels differ from libheif's by more than 2 levels (the first at %v), up to %d", off, at, worst)
				}
				t.Logf("largest difference from libheif: %d levels", worst)
			})
		}
	}
}

func mustInspect(t *testing.T, b []byte) Header {
	t.Helper()
	h, err := Inspect(b, DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestHEICGridDescriptorInFile: a grid whose descriptor is in the file (iloc
// construction method 0, after the tiles) rather than in idat goes the libde265 path
// and is libheif's picture to within 2 levels at every pixel.
func TestHEICGridDescriptorInFile(t *testing.T) {
	const rows, cols, w, h = 2, 2, 480, 400
	b := heicGrid(t, imagetest.Photo(w, h, 37), rows, cols, 256, "-q", "90", "-p", "preset=ultrafast")
	// GridHEIF's iloc entry of the grid (item 1): construction method 1, one extent of
	// the 8-byte descriptor at offset 0 of idat. Point it at a copy appended to the file.
	entry := []byte{0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 8}
	at := bytes.Index(b, entry)
	if at < 0 {
		t.Fatal("no iloc entry of the grid in GridHEIF's file")
	}
	hd := mustInspect(t, b)
	idat := bytes.Index(b, []byte("idat"))
	descBytes := bytes.Clone(b[idat+4 : idat+12])
	moved := bytes.Clone(b)
	copy(moved[at:], []byte{0, 1, 0, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint32(moved[at+8:], uint32(len(b)+8))
	moved = append(moved, 0, 0, 0, 16, 'm', 'd', 'a', 't')
	moved = append(moved, descBytes...)
	got := mustInspect(t, moved)
	if it := got.heif.items[got.heif.primary]; it.idat || got.heif.gridRows != hd.heif.gridRows || got.heif.gridCols != cols {
		t.Fatalf("grid read as %d×%d (idat %v), want %d×%d from the file", got.heif.gridRows, got.heif.gridCols, it.idat, rows, cols)
	}
	if _, ok, err := decodePlanes(got, moved, DefaultOptions.Widths, DefaultLimits.MaxPixels); err != nil || !ok {
		t.Fatalf("decodePlanes: taken %v, %v", ok, err)
	}
	worst, off, first := libheifDiff(t, moved, w, h)
	if off > 0 {
		t.Errorf("%d pixels differ from libheif's by more than 2 levels (the first at %v), up to %d", off, first, worst)
	}
}

// heicGrid is src as a rows×cols grid HEIC of size×size tiles, each encoded by heif-enc
// with the options given.
func heicGrid(t *testing.T, src *image.RGBA, rows, cols, size int, options ...string) []byte {
	t.Helper()
	enc := imagetest.Tool(t, "heif-enc", "libheif-examples")
	args := slices.Concat(options, []string{"-o", "OUT", "IN"})
	tiles := imagetest.GridTiles(src, rows, cols, size, size, func(m image.Image) []byte {
		return imagetest.Convert(t, enc, m, nil, ".png", ".heic", args...)
	})
	return imagetest.GridHEIF(t, false, tiles, rows, cols, src.Rect.Dx(), src.Rect.Dy())
}

// TestHEICAlphaAsLibheif: an HEIC with an alpha plane (heif-enc from a PNG with
// transparency: the alpha is an auxiliary HEVC item, auxC
// urn:mpeg:hevc:2015:auxid:1) goes the libde265 path, and its full-size decode is
// libheif's (heif-convert's PNG, premultiplied as this package keeps it) to within 2
// levels in every channel, alpha included; its thumbnail is flattened onto white. An
// auxiliary image that is not alpha (a depth map) is ignored, as libheif does.
func TestHEICAlphaAsLibheif(t *testing.T) {
	enc := imagetest.Tool(t, "heif-enc", "libheif-examples")
	conv := imagetest.Tool(t, "heif-convert", "libheif-examples")
	const w, h = 320, 240
	src := image.NewNRGBA(image.Rect(0, 0, w, h))
	photo := imagetest.Photo(w, h, 41)
	for y := range h {
		for x := range w {
			i := y*src.Stride + 4*x
			copy(src.Pix[i:i+3], photo.Pix[y*photo.Stride+4*x:])
			src.Pix[i+3] = 255
			if x >= w/2 {
				src.Pix[i+3] = uint8(y * 255 / (h - 1)) // transparent at the top
			}
		}
	}
	b := imagetest.Convert(t, enc, src, nil, ".png", ".heic", "-q", "90", "-p", "preset=ultrafast", "-o", "OUT", "IN")
	hd := mustInspect(t, b)
	if alpha, twoAlphas := hd.heif.auxiliary(hd.heif.primary); alpha == 0 || twoAlphas {
		t.Fatalf("no alpha plane found (%d, two alphas %v)", alpha, twoAlphas)
	}
	o := DefaultOptions
	o.Widths = []int{w}
	ours, ok, err := decodePlanes(hd, b, o.Widths, o.Limits.MaxPixels)
	if err != nil || !ok {
		t.Fatalf("decodePlanes: taken %v, %v", ok, err)
	}
	ref, err := png.Decode(bytes.NewReader(imagetest.Convert(t, conv, nil, b, ".heic", ".png", "IN", "OUT")))
	if err != nil {
		t.Fatal(err)
	}
	worst, off := 0, 0
	for y := range h {
		for x := range w {
			r, g, bl, a := ref.At(x, y).RGBA()
			p := ours.Pix[y*ours.Stride+4*x:]
			d := max(abs(int(p[0])-int(r>>8)), abs(int(p[1])-int(g>>8)), abs(int(p[2])-int(bl>>8)), abs(int(p[3])-int(a>>8)))
			worst = max(worst, d)
			if d > 2 {
				off++
			}
		}
	}
	if off > 0 {
		t.Errorf("%d pixels differ from libheif's by more than 2 levels, up to %d", off, worst)
	}
	t.Logf("largest difference from libheif: %d levels", worst)
	m := thumbnailJPEG(t, b, DefaultOptions)
	// The top right corner is transparent: white in the thumbnail.
	if r, g, bl, _ := m.At(m.Bounds().Dx()-2, 1).RGBA(); r>>8 < 245 || g>>8 < 245 || bl>>8 < 245 {
		t.Errorf("the transparent corner is %d,%d,%d, want white", r>>8, g>>8, bl>>8)
	}
	// The same auxiliary item called a depth map (as a portrait photo carries one, and
	// an iPhone an HDR gain map on most photos): not part of the picture, which goes
	// the planes path opaque, as libheif decodes it.
	depth := bytes.Replace(b, []byte(alphaURNHEVC), []byte("urn:mpeg:hevc:2015:auxid:2"), 1)
	dh := mustInspect(t, depth)
	if alpha, _ := dh.heif.auxiliary(dh.heif.primary); alpha != 0 {
		t.Fatalf("a depth map taken for an alpha plane (item %d)", alpha)
	}
	if _, ok, err := decodePlanes(dh, depth, o.Widths, o.Limits.MaxPixels); !ok || err != nil {
		t.Fatalf("a depth map: planes path taken %v, %v; want it taken, the depth map ignored", ok, err)
	}
	if worst, off, at := libheifDiff(t, depth, w, h); off > 0 {
		t.Errorf("with a depth map: %d pixels differ from libheif's by more than 2 levels (the first at %v), up to %d", off, at, worst)
	}
}

// thumbnailJPEG is the first JPEG thumbnail Make makes of b, decoded.
func thumbnailJPEG(t *testing.T, b []byte, o Options) image.Image {
	t.Helper()
	res, err := Make(b, o)
	if err != nil {
		t.Fatal(err)
	}
	m, err := jpeg.Decode(bytes.NewReader(res.Renditions[0].JPEG))
	if err != nil {
		t.Fatal(err)
	}
	return m
}
