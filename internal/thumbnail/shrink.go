package thumbnail

import (
	"image"
	"image/color"
	"math"

	"golang.org/x/image/draw"
)

// lanczos3 is the resampling kernel libvips reduces with: a windowed sinc of three
// lobes, sharper than Catmull-Rom.
var lanczos3 = &draw.Kernel{Support: 3, At: func(t float64) float64 {
	if t == 0 {
		return 1
	}
	if t >= 3 {
		return 0
	}
	x := math.Pi * t
	return 3 * math.Sin(x) * math.Sin(x/3) / (x * x)
}}

// shrink averages f×f blocks of m into a new RGBA image (alpha premultiplied), reading
// YCbCr planes directly when it can. Edge blocks average the pixels they have.
func shrink(m image.Image, f int) *image.RGBA {
	if y, ok := m.(*image.YCbCr); ok && y.Rect.Min == (image.Point{}) {
		if hs, vs, ok := chromaFactors(y.SubsampleRatio); ok {
			return shrinkYCbCr(y, f, hs, vs)
		}
	}
	if f == 1 {
		if r, ok := m.(*image.RGBA); ok {
			return r
		}
	}
	return shrinkGeneric(m, f)
}

// chromaFactors is the horizontal and vertical chroma subsampling of r.
func chromaFactors(r image.YCbCrSubsampleRatio) (hs, vs int, ok bool) {
	switch r {
	case image.YCbCrSubsampleRatio444:
		return 1, 1, true
	case image.YCbCrSubsampleRatio422:
		return 2, 1, true
	case image.YCbCrSubsampleRatio420:
		return 2, 2, true
	case image.YCbCrSubsampleRatio440:
		return 1, 2, true
	case image.YCbCrSubsampleRatio411:
		return 4, 1, true
	case image.YCbCrSubsampleRatio410:
		return 4, 2, true
	}
	return 0, 0, false
}

// shrinkYCbCr box-averages the luma and chroma planes separately, then converts each
// output pixel to RGB (JPEG's conversion, color.YCbCrToRGB).
func shrinkYCbCr(m *image.YCbCr, f, hs, vs int) *image.RGBA {
	return shrinkPlanes(planes[uint8]{y: m.Y, cb: m.Cb, cr: m.Cr, yStride: m.YStride, cStride: m.CStride,
		w: m.Rect.Dx(), h: m.Rect.Dy(), hs: hs, vs: vs}, f, ycbcr8ToRGB)
}

// ycbcr8ToRGB converts averaged 8-bit samples as image/color does.
func ycbcr8ToRGB(y, cb, cr uint32) (r, g, b uint8) {
	return color.YCbCrToRGB(uint8(y), uint8(cb), uint8(cr))
}

// planes are a picture's Y, Cb and Cr planes of 8-bit or wider samples, strides in
// samples; chroma is subsampled by hs across and vs down. cb and cr are nil for a
// picture of luma alone, whose chroma is then mid.
type planes[T uint8 | uint16] struct {
	y, cb, cr        []T
	yStride, cStride int
	w, h, hs, vs     int
	mid              uint32
}

// shrinkPlanes box-averages the luma and chroma planes separately, then converts each
// output pixel to RGB with conv. Averaging before the conversion is exact up to
// rounding because the conversion is affine. Each plane row is summed in one
// sequential pass (no per-block slicing), and the pixel and sample counts of a block
// come from its bounds rather than being counted.
func shrinkPlanes[T uint8 | uint16](m planes[T], f int, conv func(y, cb, cr uint32) (r, g, b uint8)) *image.RGBA {
	w, h, hs, vs := m.w, m.h, m.hs, m.vs
	ow, oh := (w+f-1)/f, (h+f-1)/f
	dst := image.NewRGBA(image.Rect(0, 0, ow, oh))
	ys := make([]uint32, ow)
	cbs := make([]uint32, ow)
	crs := make([]uint32, ow)
	// The chroma columns each output column covers: [c0[ox], c1[ox]].
	c0 := make([]int, ow)
	c1 := make([]int, ow)
	for ox := range ow {
		c0[ox], c1[ox] = ox*f/hs, (min(ox*f+f, w)-1)/hs
	}
	cw := (w + hs - 1) / hs
	for oy := range oh {
		clear(ys)
		clear(cbs)
		clear(crs)
		y0, y1 := oy*f, min(oy*f+f, h)
		for y := y0; y < y1; y++ {
			row := m.y[y*m.yStride : y*m.yStride+w]
			x := 0
			for ox := range ys {
				end := min(x+f, len(row))
				var s uint32
				for _, v := range row[x:end] {
					s += uint32(v)
				}
				ys[ox] += s
				x = end
			}
		}
		// Every chroma sample covering a source pixel of the block counts once.
		cy0, cy1 := y0/vs, (y1-1)/vs
		for cy := cy0; m.cb != nil && cy <= cy1; cy++ {
			cb := m.cb[cy*m.cStride : cy*m.cStride+cw]
			cr := m.cr[cy*m.cStride : cy*m.cStride+cw]
			for ox := range cbs {
				var sb, sr uint32
				for cx := c0[ox]; cx <= c1[ox]; cx++ {
					sb += uint32(cb[cx])
					sr += uint32(cr[cx])
				}
				cbs[ox] += sb
				crs[ox] += sr
			}
		}
		rows := uint32(y1 - y0)
		crows := uint32(cy1 - cy0 + 1)
		out := dst.Pix[oy*dst.Stride : oy*dst.Stride+4*ow]
		for ox := range ys {
			yn := rows * uint32(min(ox*f+f, w)-ox*f)
			yy := (ys[ox] + yn/2) / yn
			cb, cr := m.mid, m.mid
			if m.cb != nil {
				cn := crows * uint32(c1[ox]-c0[ox]+1)
				cb, cr = (cbs[ox]+cn/2)/cn, (crs[ox]+cn/2)/cn
			}
			r, g, b := conv(yy, cb, cr)
			px := out[4*ox : 4*ox+4 : 4*ox+4]
			px[0], px[1], px[2], px[3] = r, g, b, 0xFF
		}
	}
	return dst
}

// shrinkGeneric box-averages any image through RGBA64At (premultiplied, no allocation
// per pixel).
func shrinkGeneric(m image.Image, f int) *image.RGBA {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	ow, oh := (w+f-1)/f, (h+f-1)/f
	dst := image.NewRGBA(image.Rect(0, 0, ow, oh))
	at := func(x, y int) (r, g, b, a uint32) { return m.At(x, y).RGBA() }
	if m64, ok := m.(image.RGBA64Image); ok {
		at = func(x, y int) (uint32, uint32, uint32, uint32) {
			c := m64.RGBA64At(x, y)
			return uint32(c.R), uint32(c.G), uint32(c.B), uint32(c.A)
		}
	}
	sums := make([][4]uint64, ow)
	ns := make([]uint64, ow)
	for oy := range oh {
		clear(sums)
		clear(ns)
		for y := oy * f; y < min(oy*f+f, h); y++ {
			for x := range w {
				r, g, bl, a := at(b.Min.X+x, b.Min.Y+y)
				s := &sums[x/f]
				s[0] += uint64(r)
				s[1] += uint64(g)
				s[2] += uint64(bl)
				s[3] += uint64(a)
				ns[x/f]++
			}
		}
		for ox := range ow {
			i := oy*dst.Stride + 4*ox
			n := ns[ox] * 257 // 16-bit sums to 8-bit averages
			for k := range 4 {
				dst.Pix[i+k] = uint8((sums[ox][k] + n/2) / n)
			}
		}
	}
	return dst
}

// resample scales src (in stored orientation) to a tw×th thumbnail as displayed: it
// resamples with Lanczos-3, applies the orientation, and flattens any transparency
// onto white (JPEG has no alpha).
func resample(src *image.RGBA, tw, th int, o Orientation) *image.RGBA {
	sw, sh := tw, th
	if o.swapsAxes() {
		sw, sh = th, tw
	}
	scaled := image.NewRGBA(image.Rect(0, 0, sw, sh))
	lanczos3.Scale(scaled, scaled.Rect, src, src.Rect, draw.Src, nil)
	out := image.NewRGBA(image.Rect(0, 0, tw, th))
	for dy := range th {
		for dx := range tw {
			sx, sy := storedAt(o, dx, dy, sw, sh)
			si := sy*scaled.Stride + 4*sx
			di := dy*out.Stride + 4*dx
			a := scaled.Pix[si+3]
			for k := range 3 {
				// The kernel clamps channels one by one, so a colour may slightly
				// exceed its alpha: clamp the sum.
				out.Pix[di+k] = uint8(min(int(scaled.Pix[si+k])+int(0xFF-a), 0xFF))
			}
			out.Pix[di+3] = 0xFF
		}
	}
	return out
}

// storedAt maps displayed pixel (dx, dy) to the stored pixel shown there, for a stored
// image of w×h pixels.
func storedAt(o Orientation, dx, dy, w, h int) (int, int) {
	switch o {
	case 2: // mirrored left-right
		return w - 1 - dx, dy
	case 3: // rotated 180°
		return w - 1 - dx, h - 1 - dy
	case 4: // mirrored top-bottom
		return dx, h - 1 - dy
	case 5: // transposed
		return dy, dx
	case 6: // stored rotated 90° counter-clockwise; shown rotated clockwise
		return dy, h - 1 - dx
	case 7: // transversed
		return w - 1 - dy, h - 1 - dx
	case 8: // stored rotated 90° clockwise
		return w - 1 - dy, dx
	}
	return dx, dy
}
