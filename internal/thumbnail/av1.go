package thumbnail

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"math"
	"runtime"
	"sync"
	"unsafe"

	"github.com/serverless-architect/serverless-architect/internal/thumbnail/dav1d"
)

// decodeAV1 decodes an AVIF's image item (the primary, or the thumbnail item the plan
// chose) with dav1d and box-shrinks its planes straight into the small RGBA image, with
// no full-size copy. ok is false when the file needs the libavif path instead: an item
// dav1d cannot decode alone (see heifFile.av1Data), or a colour matrix nclx.toRGB does
// not convert.
func decodeAV1(h Header, b []byte, widths []int, maxPixels int64) (small *image.RGBA, ok bool, err error) {
	if h.Format != AVIF || h.heif == nil {
		return nil, false, nil
	}
	defer func() {
		if r := recover(); r != nil {
			small, ok, err = nil, true, fmt.Errorf("%w: AVIF decoder failed: %v", ErrNotImage, r)
		}
	}()
	if h.heifThumb == 0 && h.heif.items[h.heif.primary].typ == "grid" {
		if !h.heif.dav1dDecodesGrid(b) {
			return nil, false, nil
		}
		small, err = decodeAV1Grid(h, b, widths, maxPixels)
		return small, true, err
	}
	id, w, ht := h.heif.primary, h.heif.width, h.heif.height
	if h.heifThumb != 0 {
		id, w, ht = h.heifThumb, h.heif.thumbWidth, h.heif.thmbHigh
	}
	obus, ok := h.heif.av1Data(b, id)
	if !ok {
		return nil, false, nil
	}
	colour, hasNCLX := h.heif.itemNCLX(id)
	errUnsupported := errors.New("unsupported picture")
	err = dav1d.Decode(obus, int(min(maxPixels, 1<<31-1)), func(p *dav1d.Picture) error {
		if !hasNCLX {
			colour = nclx{primaries: p.Primaries, transfer: p.Transfer, matrix: p.Matrix, fullRange: p.FullRange}
		}
		conv, ok := colour.toRGB(p.BitDepth)
		if !ok {
			return errUnsupported
		}
		if p.Width != w || p.Height != ht {
			// The container's size (ispe) is what the limits were checked against.
			return fmt.Errorf("%w: AVIF: the coded picture is %d×%d, the container says %d×%d", ErrNotImage, p.Width, p.Height, w, ht)
		}
		f := h.boxFactor(widths, p.Width, p.Height)
		hs, vs := 1, 1
		switch p.Layout {
		case dav1d.Layout420:
			hs, vs = 2, 2
		case dav1d.Layout422:
			hs = 2
		}
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
	switch {
	case errors.Is(err, errUnsupported):
		return nil, false, nil
	case errors.Is(err, dav1d.ErrDecode):
		return nil, true, fmt.Errorf("%w: AVIF: %v", ErrNotImage, err)
	case err != nil:
		return nil, true, err
	}
	return small, true, nil
}

// dav1dDecodes reports whether item id goes the dav1d path whatever its sequence
// header says: dav1d decodes it alone and the container's nclx names a matrix this
// path converts. (Without an nclx the picture's own description decides, after
// decoding, and the libavif path may still be taken: such a file reserves libavif's
// amount, the larger, and the dav1d instance is closed before libavif starts.)
func (h *heifFile) dav1dDecodes(b []byte, id uint32) bool {
	if _, ok := h.av1Data(b, id); !ok {
		return false
	}
	c, ok := h.itemNCLX(id)
	if !ok {
		return false
	}
	_, ok = c.toRGB(max(h.bitDepth, 8))
	return ok
}

// dav1dDecodeBytes is what the dav1d path takes for a w×h image of the given bit depth:
// the module's linear memory (the AV1 data, dav1d's picture with its padding and its
// per-frame state, grown by copying) lives on the Go heap. Measured peak of the Go heap
// of a whole job on 12-megapixel 8-bit AVIFs (services/thumbnailer
// TestPeakHeapPerFormat, and the heap peak make bench reports): 52 to 54 MiB for
// 4:2:0, 95 MiB for 4:4:4; this keeps 15% or more above the 4:4:4 one, and doubles
// for samples wider than 8 bits (two bytes each).
func dav1dDecodeBytes(w, h, depth int) int64 {
	px := int64(w) * int64(h)
	perPixel := int64(8)
	if depth > 8 {
		perPixel *= 2
	}
	return perPixel*px + 16<<20 + workBytes
}

// samples16 is a plane of little-endian 16-bit samples as uint16s: a view where the
// machine is little-endian (dav1d aligns its planes), a copy where it is not.
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
// libavif converts: ok is false for the matrices it does not handle here (YCgCo,
// constant-luminance and chromaticity-derived ones).
func (c nclx) toRGB(depth int) (conv func(y, cb, cr uint32) (r, g, b uint8), ok bool) {
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
	case 9: // BT.2020 non-constant luminance
		kr, kb = 0.2627, 0.0593
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

// dav1dDecodesGrid reports whether the grid primary goes the dav1d path: its layout is
// known (descriptor in idat), every tile is an AV1 item dav1d decodes alone, tiles are
// of even size (MIAF: chroma never straddles two tiles), and the grid's or the first
// tile's nclx names a matrix this path converts.
func (h *heifFile) dav1dDecodesGrid(b []byte) bool {
	tiles := h.items[h.primary].refs["dimg"]
	if h.gridRows == 0 || h.tileWidth <= 0 || h.tileHeight <= 0 || h.tileWidth%2 != 0 || h.tileHeight%2 != 0 ||
		h.gridCols*h.tileWidth < h.width || h.gridRows*h.tileHeight < h.height {
		return false
	}
	for _, id := range tiles {
		if _, ok := h.av1Data(b, id); !ok {
			return false
		}
	}
	_, ok := h.gridNCLX()
	return ok
}

// gridNCLX is the colour description of a grid: the grid item's, else its first
// tile's; ok is false when neither has one this path converts.
func (h *heifFile) gridNCLX() (nclx, bool) {
	c, ok := h.itemNCLX(h.primary)
	if !ok {
		c, ok = h.itemNCLX(h.items[h.primary].refs["dimg"][0])
	}
	if !ok {
		return c, false
	}
	_, ok = c.toRGB(max(h.bitDepth, 8))
	return c, ok
}

// dav1dGridBytes is what the dav1d path takes for a grid: the full-size planes the
// tiles are copied into (three samples a pixel at most, 4:4:4), and one decoder
// instance per worker.
func (h *heifFile) dav1dGridBytes() int64 {
	bps := int64(1)
	if h.bitDepth > 8 {
		bps = 2
	}
	workers := int64(min(runtime.GOMAXPROCS(0), h.tiles))
	return 3*bps*int64(h.width)*int64(h.height) + workers*dav1dDecodeBytes(h.tileWidth, h.tileHeight, h.bitDepth)
}

// decodeAV1Grid decodes a grid AVIF's tiles with dav1d, GOMAXPROCS at a time (each in a
// module instance of its own), copies them into full-size planes and box-shrinks those.
func decodeAV1Grid(h Header, b []byte, widths []int, maxPixels int64) (*image.RGBA, error) {
	hf := h.heif
	tiles := hf.items[hf.primary].refs["dimg"]
	colour, _ := hf.gridNCLX()
	var (
		mu sync.Mutex
		g  tileGrid
	)
	decodeTile := func(i int) error {
		obus, _ := hf.av1Data(b, tiles[i])
		return dav1d.Decode(obus, int(min(maxPixels, 1<<31-1)), func(p *dav1d.Picture) error {
			if p.Width != hf.tileWidth || p.Height != hf.tileHeight {
				return fmt.Errorf("%w: AVIF grid tile %d is %d×%d, the first tile says %d×%d", ErrNotImage, i, p.Width, p.Height, hf.tileWidth, hf.tileHeight)
			}
			mu.Lock()
			if g == nil {
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
	if err := eachTile(len(tiles), decodeTile); err != nil {
		return nil, gridError(err)
	}
	conv, ok := colour.toRGB(g.depth())
	if !ok {
		return nil, fmt.Errorf("%w: AVIF grid: colour matrix %d at %d bits", ErrNotImage, colour.matrix, g.depth())
	}
	return g.shrink(h.boxFactor(widths, hf.width, hf.height), conv), nil
}

// eachTile calls decode for tiles 0 to n-1: the first alone, then the others on
// GOMAXPROCS goroutines. It stops handing out tiles at the first error, and returns it.
func eachTile(n int, decode func(i int) error) error {
	if n == 0 {
		return nil
	}
	// A decoder panic (a bug met by hostile input) on a goroutine of its own would end
	// the process: it becomes the tile's error.
	fn := func(i int) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%w: the decoder failed on tile %d: %v", ErrNotImage, i, r)
			}
		}()
		return decode(i)
	}
	if err := fn(0); err != nil {
		return err
	}
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), n-1) {
		wg.Go(func() {
			for i := range next {
				if err := fn(i); err != nil {
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
func gridError(err error) error {
	if errors.Is(err, dav1d.ErrDecode) {
		return fmt.Errorf("%w: AVIF grid: %v", ErrNotImage, err)
	}
	return err
}

// tileGrid is the full-size planes of a grid image, of 8-bit or wider samples.
type tileGrid interface {
	// put copies a decoded tile to (x0, y0), clipped to the image.
	put(p *dav1d.Picture, x0, y0 int) error
	depth() int
	shrink(f int, conv func(y, cb, cr uint32) (r, g, b uint8)) *image.RGBA
}

type grid[T uint8 | uint16] struct {
	planes[T]
	bits   int
	layout dav1d.Layout
	view   func([]byte) []T
}

func newGrid[T uint8 | uint16](w, h int, first *dav1d.Picture, view func([]byte) []T) *grid[T] {
	hs, vs := 1, 1
	switch first.Layout {
	case dav1d.Layout420:
		hs, vs = 2, 2
	case dav1d.Layout422:
		hs = 2
	}
	cw, ch := (w+hs-1)/hs, (h+vs-1)/vs
	g := &grid[T]{bits: first.BitDepth, layout: first.Layout, view: view,
		planes: planes[T]{y: make([]T, w*h), yStride: w, cStride: cw, w: w, h: h, hs: hs, vs: vs, mid: 1 << (first.BitDepth - 1)}}
	if first.Layout != dav1d.Layout400 {
		g.cb, g.cr = make([]T, cw*ch), make([]T, cw*ch)
	}
	return g
}

func (g *grid[T]) depth() int { return g.bits }

func (g *grid[T]) put(p *dav1d.Picture, x0, y0 int) error {
	if p.BitDepth != g.bits || p.Layout != g.layout {
		return fmt.Errorf("%w: AVIF grid tiles of different depths or chroma layouts", ErrNotImage)
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
