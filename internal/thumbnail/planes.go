package thumbnail

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"math"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/serverless-architect/serverless-architect/internal/thumbnail/dav1d"
	"github.com/serverless-architect/serverless-architect/internal/thumbnail/de265"
	"github.com/serverless-architect/serverless-architect/internal/thumbnail/planar"
)

// codec is one of the WebAssembly decoders of the planes path: dav1d for AVIF's AV1
// items, libde265 for HEIC's HEVC items.
type codec struct {
	format Format
	// data is the input of decode for an image item of the file, ok false when this
	// decoder cannot decode the item alone (see av1Data and hevcData).
	data func(h *heifFile, b []byte, id uint32) (data []byte, ok bool)
	// newDecoder is a decoder that keeps its module instance from one picture to the
	// next (a grid's tiles), without the in-loop filters if skipFilters.
	newDecoder func(skipFilters bool) *planar.Decoder
	// intra reports whether data holds intra pictures only; nil when the decoder
	// always runs its filters.
	intra     func(data []byte) bool
	errDecode error
}

// skipFiltersFactor is the smallest box-shrink factor at which an HEIC's intra
// pictures are decoded without deblocking and SAO (de265.Options.SkipLoopFilters):
// the filters smooth at most three samples either side of an 8-sample block edge, and
// a box of 4×4 or more, then the Lanczos resample to the thumbnail (half that size
// again), averages that away (TestHEICSkippedFiltersMatchVips). A full-size decode,
// or one shrunk less, keeps them: it is compared with libheif's sample by sample.
var skipFiltersFactor = 4 // a variable for TestHEICSkippedFiltersMatchVips

// skipFilters reports whether the items whose decoder input is data, to be box-shrunk
// by a factor of f, are decoded without the in-loop filters: f is skipFiltersFactor or
// more and every one holds intra pictures only.
func (c *codec) skipFilters(f int, data ...[]byte) bool {
	if c.intra == nil || f < skipFiltersFactor {
		return false
	}
	for _, d := range data {
		if !c.intra(d) {
			return false
		}
	}
	return true
}

var (
	av1Codec = &codec{format: AVIF, data: (*heifFile).av1Data, errDecode: dav1d.ErrDecode,
		newDecoder: func(bool) *planar.Decoder { return dav1d.NewDecoder() }}
	hevcCodec = &codec{format: HEIC, data: (*heifFile).hevcData, intra: de265.Intra, errDecode: de265.ErrDecode,
		newDecoder: func(skip bool) *planar.Decoder { return de265.NewDecoder(de265.Options{SkipLoopFilters: skip}) }}
)

// codec is the planes-path decoder of the file's coded items (the primary, or a grid's
// tiles), or nil.
func (h *heifFile) codec() *codec {
	coded := h.items[h.primary]
	if coded != nil && coded.typ == "grid" && len(coded.refs["dimg"]) > 0 {
		coded = h.items[coded.refs["dimg"][0]]
	}
	switch {
	case coded == nil:
		return nil
	case coded.typ == "av01":
		return av1Codec
	case coded.typ == "hvc1":
		return hevcCodec
	}
	return nil
}

// decodePlanes decodes an AVIF's or HEIC's image item (the primary, or the thumbnail
// item the plan chose) with dav1d or libde265 and box-shrinks its planes straight into
// the small RGBA image, with no full-size copy. ok is false when the file needs the
// libavif or libheif path instead: an item the decoder cannot decode alone (see
// av1Data and hevcData), or a colour matrix nclx.toRGB does not convert.
func decodePlanes(h Header, b []byte, widths []int, maxPixels int64) (small *image.RGBA, ok bool, err error) {
	if h.heif == nil || h.heif.codec() == nil {
		return nil, false, nil
	}
	c := h.heif.codec()
	defer func() {
		if r := recover(); r != nil {
			small, ok, err = nil, true, fmt.Errorf("%w: %s decoder failed: %v", ErrNotImage, h.Format.name(), r)
		}
	}()
	if h.heifThumb == 0 && h.heif.items[h.heif.primary].typ == "grid" {
		if !h.heif.planesDecodeGrid(b) {
			return nil, false, nil
		}
		return decodeGrid(h, b, widths, maxPixels)
	}
	id, w, ht := h.heif.primary, h.heif.width, h.heif.height
	if h.heifThumb != 0 {
		id, w, ht = h.heifThumb, h.heif.thumbWidth, h.heif.thmbHigh
	}
	data, ok := c.data(h.heif, b, id)
	if !ok {
		return nil, false, nil
	}
	// An alpha plane (HEVC only: itemData refuses it for AV1) of the image's size is
	// decoded after the image and multiplied into the small picture.
	var alphaData []byte
	alpha, _ := h.heif.auxiliary(id)
	if alpha != 0 {
		aw, ah, sized := h.heif.itemSize(h.heif.items[alpha])
		if alphaData, ok = c.data(h.heif, b, alpha); !ok || !sized || aw != w || ah != ht {
			return nil, false, nil
		}
	}
	colour, hasNCLX := h.heif.itemNCLX(id)
	errUnsupported := errors.New("unsupported picture")
	f := h.boxFactor(widths, w, ht)
	d := c.newDecoder(c.skipFilters(f, data))
	defer d.Close()
	err = d.Decode(data, int(min(maxPixels, 1<<31-1)), func(p *planar.Picture) error {
		if !hasNCLX {
			colour = nclx{primaries: p.Primaries, transfer: p.Transfer, matrix: p.Matrix, fullRange: p.FullRange}
		}
		conv, ok := colour.toRGB(h.Format, p.BitDepth)
		if !ok {
			return errUnsupported
		}
		if p.Width != w || p.Height != ht {
			// The container's size (ispe) is what the limits were checked against.
			return fmt.Errorf("%w: %s: the coded picture is %d×%d, the container says %d×%d", ErrNotImage, h.Format.name(), p.Width, p.Height, w, ht)
		}
		hs, vs := subsampling(p.Layout)
		if p.BitDepth == 8 {
			pl := planes[uint8]{y: p.Y, cb: p.Cb, cr: p.Cr, yStride: p.YStride, cStride: p.CStride,
				w: p.Width, h: p.Height, hs: hs, vs: vs, mid: 128}
			small = shrinkPlanes(pl, f, conv)
			return nil
		}
		pl := planes[uint16]{y: samples16(p.Y), cb: samples16(p.Cb), cr: samples16(p.Cr), yStride: p.YStride / 2,
			cStride: p.CStride / 2, w: p.Width, h: p.Height, hs: hs, vs: vs, mid: 1 << (p.BitDepth - 1)}
		small = shrinkPlanes(pl, f, conv)
		return nil
	})
	if err == nil && alpha != 0 {
		d.Close() // the image's decoder memory goes before the alpha plane's comes
		ad := c.newDecoder(c.skipFilters(f, alphaData))
		defer ad.Close()
		err = ad.Decode(alphaData, int(min(maxPixels, 1<<31-1)), func(p *planar.Picture) error {
			if p.Width != w || p.Height != ht {
				return fmt.Errorf("%w: %s: the alpha plane is %d×%d, the image %d×%d", ErrNotImage, h.Format.name(), p.Width, p.Height, w, ht)
			}
			multiplyAlpha(small, p, f)
			return nil
		})
	}
	switch {
	case errors.Is(err, errUnsupported):
		return nil, false, nil
	case errors.Is(err, c.errDecode):
		return nil, true, fmt.Errorf("%w: %s: %v", ErrNotImage, h.Format.name(), err)
	case err != nil:
		return nil, true, err
	}
	return small, true, nil
}

// multiplyAlpha box-shrinks the luma plane of p, an alpha plane (its samples the
// opacity, full range, as libheif reads them), by f into the alpha of small, the
// image shrunk by the same factor, and premultiplies small's colour by it (the RGBA
// image's convention: resample flattens it onto white).
func multiplyAlpha(small *image.RGBA, p *planar.Picture, f int) {
	if p.BitDepth > 8 {
		multiplyAlphaPlane(small, samples16(p.Y), p.YStride/2, p, f)
		return
	}
	multiplyAlphaPlane(small, p.Y, p.YStride, p, f)
}

// multiplyAlphaPlane is multiplyAlpha over p's luma samples y, stride samples a row.
func multiplyAlphaPlane[T uint8 | uint16](small *image.RGBA, y []T, stride int, p *planar.Picture, f int) {
	maxV := uint64(1)<<p.BitDepth - 1
	ow, oh := small.Rect.Dx(), small.Rect.Dy()
	for oy := range oh {
		y0, y1 := oy*f, min(oy*f+f, p.Height)
		for ox := range ow {
			x0, x1 := ox*f, min(ox*f+f, p.Width)
			var sum uint64
			for r := y0; r < y1; r++ {
				for _, v := range y[r*stride+x0 : r*stride+x1] {
					sum += uint64(v)
				}
			}
			n := uint64((y1 - y0) * (x1 - x0))
			a := (sum*255 + n*maxV/2) / (n * maxV)
			px := small.Pix[oy*small.Stride+4*ox:]
			for k := range 3 {
				px[k] = uint8((uint64(px[k])*a + 127) / 255)
			}
			px[3] = uint8(a)
		}
	}
}

// subsampling is a layout's chroma subsampling across and down.
func subsampling(l planar.Layout) (hs, vs int) {
	switch l {
	case planar.Layout420:
		return 2, 2
	case planar.Layout422:
		return 2, 1
	}
	return 1, 1
}

// planesDecode reports whether item id goes the planes path whatever its coded stream
// says: dav1d or libde265 decodes it alone and the container's nclx names a matrix this
// path converts. (Without an nclx the picture's own description decides, after
// decoding, and the libavif or libheif path may still be taken: such a file reserves
// that path's amount, the larger, and the module instance is closed before it starts.)
func (h *heifFile) planesDecode(b []byte, id uint32) bool {
	c := h.codec()
	if c == nil {
		return false
	}
	if _, ok := c.data(h, b, id); !ok {
		return false
	}
	colour, ok := h.itemNCLX(id)
	if !ok {
		return false
	}
	_, ok = colour.toRGB(c.format, max(h.bitDepth, 8))
	return ok
}

// planesDecodeBytes is what the planes path takes to decode item id, w×h: the module's
// linear memory (the coded data, the decoder's pictures with their padding and its
// per-frame state, grown by copying) lives on the Go heap. Measured peaks of the Go
// heap of a whole job on 12-megapixel 8-bit images (services/thumbnailer
// TestPeakHeapPerFormat, and the heap peak make bench reports): AVIF (dav1d) 52 to 54
// MiB for 4:2:0, 95 MiB for 4:4:4; HEIC 4:2:0 (libde265, which keeps the picture
// before and after SAO, and per-block metadata) 120 MiB. These keep 15% or more above;
// HEIC with more chroma than 4:2:0 (not measured) is reserved in proportion to its
// planes. Samples wider than 8 bits double it (two bytes each).
func (h *heifFile) planesDecodeBytes(id uint32, w, ht int) int64 {
	px := int64(w) * int64(ht)
	perPixel := int64(8)
	if h.codec() == hevcCodec {
		perPixel = 11
		if chroma := h.hevcChroma(id); chroma == 2 || chroma == 3 {
			perPixel = 15
		}
	}
	if h.bitDepth > 8 {
		perPixel *= 2
	}
	return perPixel*px + 16<<20 + workBytes
}

// hevcChroma is the chroma format of HEVC item id as its hvcC says (0 monochrome,
// 1 4:2:0, 2 4:2:2, 3 4:4:4), or -1.
func (h *heifFile) hevcChroma(id uint32) int {
	it := h.items[id]
	if it == nil {
		return -1
	}
	for _, p := range h.properties(it) {
		if p.typ == "hvcC" && len(p.body) > 16 {
			return int(p.body[16] & 3)
		}
	}
	return -1
}

// samples16 is a plane of little-endian 16-bit samples as uint16s: a view where the
// machine is little-endian (both decoders align their planes), a copy where it is not.
func samples16(b []byte) []uint16 {
	if len(b) < 2 {
		return nil
	}
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 && uintptr(unsafe.Pointer(&b[0]))%2 == 0 {
		return unsafe.Slice((*uint16)(unsafe.Pointer(&b[0])), len(b)/2)
	}
	out := make([]uint16, len(b)/2)
	for i := range out {
		out[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return out
}

// toRGB is the conversion of averaged samples of the given bit depth to 8-bit RGB under
// this colour description (ITU-T H.273 matrix coefficients, with its range), as
// libavif converts, and for HEIC (f) as libheif 1.15 does (TestHEICMatricesAsLibheif)
// where it converts more: YCgCo, read as full range whatever the flag says, and
// BT.2020 constant luminance, read as non-constant. ok is false for the matrices
// neither converts here (chromaticity-derived ones, ICtCp; YCgCo and constant
// luminance for AVIF).
func (c nclx) toRGB(f Format, depth int) (conv func(y, cb, cr uint32) (r, g, b uint8), ok bool) {
	if f != HEIC && (c.matrix == 8 || c.matrix == 10) {
		return nil, false
	}
	var kr, kb float64
	switch c.matrix {
	case 0: // identity: the planes are G, B, R
	case 1: // BT.709
		kr, kb = 0.2126, 0.0722
	case 2, 5, 6: // unspecified (libavif reads it as BT.601), BT.601
		kr, kb = 0.299, 0.114
	case 4: // FCC
		kr, kb = 0.30, 0.11
	case 7: // SMPTE 240M
		kr, kb = 0.212, 0.087
	case 9, 10: // BT.2020, non-constant and constant luminance (libheif converts both alike)
		kr, kb = 0.2627, 0.0593
	case 8: // YCgCo: the planes are Y, Cg, Co
	default:
		return nil, false
	}
	if depth == 8 && c.fullRange && kr == 0.299 {
		return ycbcr8ToRGB, true // JPEG's conversion, as before
	}
	if depth < 8 || depth > 16 {
		return nil, false
	}
	scale := float64(uint32(1)<<depth - 1)
	yOff, yRange, cRange := 0.0, scale, scale
	if !c.fullRange {
		unit := float64(uint32(1) << (depth - 8))
		yOff, yRange, cRange = 16*unit, 219*unit, 224*unit
	}
	mid := float64(uint32(1) << (depth - 1))
	to8 := func(v float64) uint8 { return uint8(math.Round(255 * max(0, min(1, v)))) }
	if c.matrix == 0 {
		return func(y, cb, cr uint32) (uint8, uint8, uint8) {
			g := (float64(y) - yOff) / yRange
			b := (float64(cb) - yOff) / yRange
			r := (float64(cr) - yOff) / yRange
			return to8(r), to8(g), to8(b)
		}, true
	}
	if c.matrix == 8 {
		// libheif reads YCgCo as full range, with the flag or without.
		return func(y, cb, cr uint32) (uint8, uint8, uint8) {
			yy := float64(y) / scale
			cg := (float64(cb) - mid) / scale
			co := (float64(cr) - mid) / scale
			t := yy - cg
			return to8(t + co), to8(yy + cg), to8(t - co)
		}, true
	}
	kg := 1 - kr - kb
	return func(y, cb, cr uint32) (uint8, uint8, uint8) {
		yy := (float64(y) - yOff) / yRange
		pb := (float64(cb) - mid) / cRange
		pr := (float64(cr) - mid) / cRange
		r := yy + 2*(1-kr)*pr
		b := yy + 2*(1-kb)*pb
		g := (yy - kr*r - kb*b) / kg
		return to8(r), to8(g), to8(b)
	}, true
}

// planesDecodeGrid reports whether the grid primary can go the planes path: its layout
// is known (descriptor in idat), every tile is an item of one codec that decodes it
// alone, and tiles are of even size (MIAF: chroma never straddles two tiles). Whether
// it does depends on the colour description too (see gridNCLX).
func (h *heifFile) planesDecodeGrid(b []byte) bool {
	tiles := h.items[h.primary].refs["dimg"]
	c := h.codec()
	if alpha, twoAlphas := h.auxiliary(h.primary); alpha != 0 || twoAlphas {
		return false // a grid's alpha plane is left to libheif and libavif
	}
	if c == nil || h.gridRows == 0 || h.tileWidth <= 0 || h.tileHeight <= 0 || h.tileWidth%2 != 0 || h.tileHeight%2 != 0 ||
		h.gridCols*h.tileWidth < h.width || h.gridRows*h.tileHeight < h.height {
		return false
	}
	for _, id := range tiles {
		if _, ok := c.data(h, b, id); !ok {
			return false
		}
	}
	return true
}

// planesGridPlanned reports whether the grid primary goes the planes path whatever its
// tiles' coded streams say: planesDecodeGrid, and the container's nclx names a matrix
// this path converts. (Without one, the first tile's own description decides, and the
// libavif or libheif path, whose amount such a file reserves, may still be taken.)
func (h *heifFile) planesGridPlanned(b []byte) bool {
	if !h.planesDecodeGrid(b) {
		return false
	}
	c, ok := h.gridNCLX()
	if !ok {
		return false
	}
	_, ok = c.toRGB(h.codec().format, max(h.bitDepth, 8))
	return ok
}

// gridNCLX is the colour description of a grid: the grid item's, else its first
// tile's; ok is false when neither has one.
func (h *heifFile) gridNCLX() (nclx, bool) {
	c, ok := h.itemNCLX(h.primary)
	if !ok {
		c, ok = h.itemNCLX(h.items[h.primary].refs["dimg"][0])
	}
	return c, ok
}

// planesGridBytes is what the planes path takes for a grid: the full-size planes the
// tiles are copied into (three samples a pixel at most, 4:4:4), and one decoder
// instance per worker.
func (h *heifFile) planesGridBytes() int64 {
	bps := int64(1)
	if h.bitDepth > 8 {
		bps = 2
	}
	workers := int64(min(runtime.GOMAXPROCS(0), h.tiles))
	return 3*bps*int64(h.width)*int64(h.height) + workers*h.planesDecodeBytes(h.items[h.primary].refs["dimg"][0], h.tileWidth, h.tileHeight)
}

// decodeGrid decodes a grid AVIF's or HEIC's tiles with dav1d or libde265, GOMAXPROCS
// at a time (each in a module instance of its own), copies them into full-size planes
// and box-shrinks those. ok is false, after the first tile, when the colour description
// (the container's, else the first tile's own) names a matrix nclx.toRGB does not
// convert.
func decodeGrid(h Header, b []byte, widths []int, maxPixels int64) (small *image.RGBA, ok bool, err error) {
	hf := h.heif
	c := hf.codec()
	tiles := hf.items[hf.primary].refs["dimg"]
	colour, hasNCLX := hf.gridNCLX()
	errUnsupported := errors.New("unsupported picture")
	var (
		mu   sync.Mutex
		g    tileGrid
		conv func(y, cb, cr uint32) (r, g, b uint8)
	)
	f := h.boxFactor(widths, hf.width, hf.height)
	data := make([][]byte, len(tiles))
	for i, id := range tiles {
		data[i], _ = c.data(hf, b, id)
	}
	skip := c.skipFilters(f, data...)
	decodeTile := func(d *planar.Decoder, i int) error {
		return d.Decode(data[i], int(min(maxPixels, 1<<31-1)), func(p *planar.Picture) error {
			if p.Width != hf.tileWidth || p.Height != hf.tileHeight {
				return fmt.Errorf("%w: %s grid tile %d is %d×%d, the first tile says %d×%d", ErrNotImage, h.Format.name(), i, p.Width, p.Height, hf.tileWidth, hf.tileHeight)
			}
			mu.Lock()
			if g == nil {
				// The first tile, decoded alone.
				if !hasNCLX {
					colour = nclx{primaries: p.Primaries, transfer: p.Transfer, matrix: p.Matrix, fullRange: p.FullRange}
				}
				if conv, ok = colour.toRGB(h.Format, p.BitDepth); !ok {
					mu.Unlock()
					return errUnsupported
				}
				if p.BitDepth > 8 {
					g = newGrid[uint16](hf.width, hf.height, p, samples16)
				} else {
					g = newGrid[uint8](hf.width, hf.height, p, func(b []byte) []byte { return b })
				}
			}
			mu.Unlock()
			return g.put(p, (i%hf.gridCols)*hf.tileWidth, (i/hf.gridCols)*hf.tileHeight)
		})
	}
	// The first tile alone (it sets the planes' depth and layout), then the rest.
	if err := eachTile(len(tiles), func() *planar.Decoder { return c.newDecoder(skip) }, decodeTile); errors.Is(err, errUnsupported) {
		return nil, false, nil
	} else if err != nil {
		return nil, true, gridError(h.Format, c, err)
	}
	return g.shrink(f, conv), true, nil
}

// eachTile calls decode for tiles 0 to n-1: the first alone, then the others on
// GOMAXPROCS goroutines, each with a decoder of its own (from newDecoder) that it keeps
// from tile to tile and closes at the end. It stops handing out tiles at the first
// error, and returns it.
func eachTile(n int, newDecoder func() *planar.Decoder, decode func(d *planar.Decoder, i int) error) error {
	if n == 0 {
		return nil
	}
	// A decoder panic (a bug met by hostile input) on a goroutine of its own would end
	// the process: it becomes the tile's error.
	fn := func(d *planar.Decoder, i int) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%w: the decoder failed on tile %d: %v", ErrNotImage, i, r)
			}
		}()
		return decode(d, i)
	}
	// The first tile's decoder goes on to the first worker.
	lead := newDecoder()
	if err := fn(lead, 0); err != nil || n == 1 {
		lead.Close()
		return err
	}
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	next := make(chan int)
	for w := range min(runtime.GOMAXPROCS(0), n-1) {
		d := lead
		if w > 0 {
			d = newDecoder()
		}
		wg.Go(func() {
			defer d.Close()
			for i := range next {
				if err := fn(d, i); err != nil {
					mu.Lock()
					first = cmp.Or(first, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := 1; i < n; i++ {
		mu.Lock()
		failed := first != nil
		mu.Unlock()
		if failed {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// gridError makes a tile's decoder failure an ErrNotImage.
func gridError(f Format, c *codec, err error) error {
	if errors.Is(err, c.errDecode) {
		return fmt.Errorf("%w: %s grid: %v", ErrNotImage, f.name(), err)
	}
	return err
}

// tileGrid is the full-size planes of a grid image, of 8-bit or wider samples.
type tileGrid interface {
	// put copies a decoded tile to (x0, y0), clipped to the image.
	put(p *planar.Picture, x0, y0 int) error
	shrink(f int, conv func(y, cb, cr uint32) (r, g, b uint8)) *image.RGBA
}

type grid[T uint8 | uint16] struct {
	planes[T]
	bits   int
	layout planar.Layout
	view   func([]byte) []T
}

func newGrid[T uint8 | uint16](w, h int, first *planar.Picture, view func([]byte) []T) *grid[T] {
	hs, vs := subsampling(first.Layout)
	cw, ch := (w+hs-1)/hs, (h+vs-1)/vs
	g := &grid[T]{bits: first.BitDepth, layout: first.Layout, view: view,
		planes: planes[T]{y: make([]T, w*h), yStride: w, cStride: cw, w: w, h: h, hs: hs, vs: vs, mid: 1 << (first.BitDepth - 1)}}
	if first.Layout != planar.Layout400 {
		g.cb, g.cr = make([]T, cw*ch), make([]T, cw*ch)
	}
	return g
}

func (g *grid[T]) put(p *planar.Picture, x0, y0 int) error {
	if p.BitDepth != g.bits || p.Layout != g.layout {
		return fmt.Errorf("%w: grid tiles of different depths or chroma layouts", ErrNotImage)
	}
	bps := 1
	if g.bits > 8 {
		bps = 2
	}
	copyPlane := func(dst []T, dstStride int, src []byte, srcStride, x, y, w, h int) {
		for r := range h {
			row := g.view(src[r*srcStride : r*srcStride+w*bps])
			copy(dst[(y+r)*dstStride+x:], row)
		}
	}
	w, h := min(p.Width, g.w-x0), min(p.Height, g.h-y0)
	if w <= 0 || h <= 0 {
		return nil
	}
	copyPlane(g.y, g.yStride, p.Y, p.YStride, x0, y0, w, h)
	if g.cb != nil {
		cx, cy := x0/g.hs, y0/g.vs
		cw, ch := (w+g.hs-1)/g.hs, (h+g.vs-1)/g.vs
		copyPlane(g.cb, g.cStride, p.Cb, p.CStride, cx, cy, cw, ch)
		copyPlane(g.cr, g.cStride, p.Cr, p.CStride, cx, cy, cw, ch)
	}
	return nil
}

func (g *grid[T]) shrink(f int, conv func(y, cb, cr uint32) (r, g, b uint8)) *image.RGBA {
	return shrinkPlanes(g.planes, f, conv)
}

// name is the format's name in messages: AVIF, HEIC.
func (f Format) name() string { return strings.ToUpper(string(f)) }
