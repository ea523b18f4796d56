package thumbnail

import (
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"testing"
)

// shrinkYCbCrReference is the box shrink written the obvious way, one output pixel at a
// time: the mean of the block's luma samples and of the distinct chroma samples that
// cover it, each rounded, then converted to RGB.
func shrinkYCbCrReference(m *image.YCbCr, f, hs, vs int) *image.RGBA {
	w, h := m.Rect.Dx(), m.Rect.Dy()
	ow, oh := (w+f-1)/f, (h+f-1)/f
	dst := image.NewRGBA(image.Rect(0, 0, ow, oh))
	for oy := range oh {
		for ox := range ow {
			x0, x1, y0, y1 := ox*f, min(ox*f+f, w), oy*f, min(oy*f+f, h)
			var sy, sb, sr, ny, nc uint32
			for y := y0; y < y1; y++ {
				for x := x0; x < x1; x++ {
					sy += uint32(m.Y[y*m.YStride+x])
					ny++
				}
			}
			for cy := y0 / vs; cy <= (y1-1)/vs; cy++ {
				for cx := x0 / hs; cx <= (x1-1)/hs; cx++ {
					sb += uint32(m.Cb[cy*m.CStride+cx])
					sr += uint32(m.Cr[cy*m.CStride+cx])
					nc++
				}
			}
			r, g, b := color.YCbCrToRGB(uint8((sy+ny/2)/ny), uint8((sb+nc/2)/nc), uint8((sr+nc/2)/nc))
			dst.SetRGBA(ox, oy, color.RGBA{r, g, b, 0xFF})
		}
	}
	return dst
}

// TestShrinkYCbCrMatchesReference: the optimised shrink is bit for bit the reference,
// for every subsampling, odd sizes (partial edge blocks) and several factors.
func TestShrinkYCbCrMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, ratio := range []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	} {
		for _, size := range []image.Point{{97, 61}, {64, 48}, {1, 1}, {13, 200}} {
			m := image.NewYCbCr(image.Rect(0, 0, size.X, size.Y), ratio)
			for i := range m.Y {
				m.Y[i] = uint8(rng.IntN(256))
			}
			for i := range m.Cb {
				m.Cb[i], m.Cr[i] = uint8(rng.IntN(256)), uint8(rng.IntN(256))
			}
			hs, vs, _ := chromaFactors(ratio)
			for _, f := range []int{1, 2, 3, 7, 8, 300} {
				t.Run(fmt.Sprintf("%v/%v/f%d", ratio, size, f), func(t *testing.T) {
					got, want := shrinkYCbCr(m, f, hs, vs), shrinkYCbCrReference(m, f, hs, vs)
					if got.Rect != want.Rect {
						t.Fatalf("size %v, want %v", got.Rect, want.Rect)
					}
					for i := range want.Pix {
						if got.Pix[i] != want.Pix[i] {
							t.Fatalf("byte %d (pixel %d,%d) = %d, want %d", i, (i%want.Stride)/4, i/want.Stride, got.Pix[i], want.Pix[i])
						}
					}
				})
			}
		}
	}
}

// BenchmarkShrinkYCbCr12MP is the box shrink of a 4000×3000 4:2:0 image by 7, the
// factor a 256-pixel thumbnail uses.
func BenchmarkShrinkYCbCr12MP(b *testing.B) {
	m := image.NewYCbCr(image.Rect(0, 0, 4000, 3000), image.YCbCrSubsampleRatio420)
	for i := range m.Y {
		m.Y[i] = uint8(i * 7)
	}
	b.ReportAllocs()
	for b.Loop() {
		shrinkYCbCr(m, 7, 2, 2)
	}
}
