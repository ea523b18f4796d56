package thumbnail

import (
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"math"
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
// decoding, and the libavif path may still be taken: such a file is budgeted for both.)
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
