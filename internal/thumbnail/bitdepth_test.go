package thumbnail

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"testing"

	"github.com/serverless-architect/serverless-architect/internal/imagetest"
)

// photo16 is imagetest.Photo at 16 bits a channel with a ramp in the low byte, so a
// 10-bit encoder has more than 8 bits of content to keep.
func photo16(w, h int, seed uint32) *image.RGBA64 {
	src := imagetest.Photo(w, h, seed)
	m := image.NewRGBA64(src.Rect)
	for y := range h {
		for x := range w {
			p := src.RGBAAt(x, y)
			low := uint16((x + 2*y) & 0xff)
			m.SetRGBA64(x, y, color.RGBA64{R: uint16(p.R)<<8 | low, G: uint16(p.G)<<8 | (0xff - low), B: uint16(p.B)<<8 | low, A: 0xffff})
		}
	}
	return m
}

// TestTenBitAsReferenceDecoders: 10-bit HEIC (heif-enc -b 10, x265's Main 10) and
// 10-bit AVIF (avifenc -d 10) go this package's own decoders (libde265 and dav1d in
// WebAssembly, not the gen2brain fallbacks). Where the reference decoder converts as
// this package does, the full-size picture is the reference's (heif-convert, avifdec;
// 16-bit PNGs) within 2 levels at every pixel; libavif upsamples 4:2:0 chroma
// bilinearly where this package (like libheif) repeats each chroma sample, up to 34
// levels apart on a sharp edge (at 8 bits as at 10), so there the thumbnails are
// compared, where the box shrink averages the chroma anyway.
func TestTenBitAsReferenceDecoders(t *testing.T) {
	const w, h = 640, 480
	src := photo16(w, h, 23)
	heifConvert := func(t *testing.T, b []byte) image.Image {
		conv := imagetest.Tool(t, "heif-convert", "libheif-examples")
		return decodePNG(t, imagetest.Convert(t, conv, nil, b, ".heic", ".png", "IN", "OUT"))
	}
	avifdec := func(t *testing.T, b []byte) image.Image {
		dec := imagetest.Tool(t, "avifdec", "libavif-bin")
		return decodePNG(t, imagetest.Convert(t, dec, nil, b, ".avif", ".png", "-d", "16", "IN", "OUT"))
	}
	avifenc := func(chroma string) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			enc := imagetest.Tool(t, "avifenc", "libavif-bin")
			return imagetest.Convert(t, enc, src, nil, ".png", ".avif", "-d", "10", "-y", chroma, "-s", "8", "--min", "0", "--max", "8", "IN", "OUT")
		}
	}
	for _, tc := range []struct {
		name       string
		format     Format
		encode     func(t *testing.T) []byte
		reference  func(t *testing.T, b []byte) image.Image
		samePixels bool
	}{
		{"HEIC 4:2:0", HEIC, func(t *testing.T) []byte {
			enc := imagetest.Tool(t, "heif-enc", "libheif-examples")
			return imagetest.Convert(t, enc, src, nil, ".png", ".heic", "-b", "10", "-q", "90", "-p", "preset=ultrafast", "-o", "OUT", "IN")
		}, heifConvert, true},
		{"AVIF 4:4:4", AVIF, avifenc("444"), avifdec, true},
		{"AVIF 4:2:0", AVIF, avifenc("420"), avifdec, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.encode(t)
			hd, err := Inspect(b, DefaultOptions)
			if err != nil {
				t.Fatal(err)
			}
			if hd.Format != tc.format || hd.heif == nil || hd.heif.bitDepth != 10 {
				t.Fatalf("Inspect: %s, HEIF %+v; want a 10-bit %s", hd.Format.name(), hd.heif, tc.format.name())
			}
			if _, ok, err := decodePlanes(hd, b, DefaultOptions.Widths, DefaultLimits.MaxPixels); !ok || err != nil {
				t.Fatalf("decodePlanes: taken %v, %v; want this package's own decoder to take a 10-bit %s", ok, err, tc.format.name())
			}
			ref := tc.reference(t, b)
			if tc.samePixels {
				worst, off, at := referenceDiff(t, b, ref, w, h)
				if off > 0 {
					t.Errorf("%d pixels differ from the reference decoder's by more than 2 levels (the first at %v), up to %d", off, at, worst)
				}
				t.Logf("largest difference from the reference decoder: %d levels", worst)
			}
			// The reference picture as an 8-bit PNG through the same thumbnail pipeline:
			// what is left between the two thumbnails is the decode, the planes path's
			// shrink and two JPEG encodings (0.985-0.991 measured; a bit depth read wrong
			// falls far below).
			ref8 := image.NewRGBA(ref.Bounds())
			draw.Draw(ref8, ref8.Rect, ref, image.Point{}, draw.Src)
			var refPNG bytes.Buffer
			if err := png.Encode(&refPNG, ref8); err != nil {
				t.Fatal(err)
			}
			m := thumbnailJPEG(t, b, DefaultOptions)
			if m.Bounds().Size() != image.Pt(256, 192) {
				t.Fatalf("thumbnail %v, want 256×192", m.Bounds().Size())
			}
			ssim := imagetest.SSIM(m, thumbnailJPEG(t, refPNG.Bytes(), DefaultOptions))
			if ssim < 0.98 {
				t.Errorf("thumbnail SSIM %.4f against the thumbnail of the reference decoder's picture, want ≥ 0.98", ssim)
			}
			t.Logf("thumbnail SSIM against the thumbnail of the reference decoder's picture: %.4f", ssim)
		})
	}
}

func decodePNG(t *testing.T, b []byte) image.Image {
	t.Helper()
	m, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	switch m.(type) {
	case *image.RGBA64, *image.NRGBA64:
		return m
	}
	t.Fatalf("the reference decoder wrote a %T, want a 16-bit PNG of the 10-bit picture", m)
	return nil
}
