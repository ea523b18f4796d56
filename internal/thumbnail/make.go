package thumbnail

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"

	"github.com/gen2brain/avif"
	"github.com/gen2brain/heic"
	gwebp "github.com/gen2brain/webp"
	"golang.org/x/image/webp"

	"github.com/serverless-architect/serverless-architect/internal/thumbnail/dav1d"
	"github.com/serverless-architect/serverless-architect/internal/thumbnail/de265"
	"github.com/serverless-architect/serverless-architect/internal/thumbnail/jpegdct"
)

// Options say which thumbnails Make renders.
type Options struct {
	// Widths are the thumbnail widths in pixels, as displayed (after orientation). An
	// image narrower than a width is not enlarged.
	Widths []int
	// Quality is the JPEG and WebP quality, 1..100.
	Quality int
	// Limits are checked before decoding.
	Limits Limits
	// MaxAspect bounds height/width of a thumbnail; taller images are refused (a
	// 1×50,000,000 image would otherwise make a huge "thumbnail"), and so are images
	// wider than 4×MaxAspect to 1 (a thumbnail a pixel high).
	MaxAspect int
	// WebP also encodes each thumbnail as WebP, kept when smaller than the JPEG.
	WebP bool
}

// DefaultOptions: one thumbnail 256 pixels wide, quality 82, WebP when smaller.
var DefaultOptions = Options{Widths: []int{256}, Quality: 82, Limits: DefaultLimits, MaxAspect: 16, WebP: true}

// Rendition is one thumbnail.
type Rendition struct {
	// Width is the requested width; the thumbnail is this wide unless the image was
	// narrower.
	Width int
	// Size is the thumbnail's actual size in pixels.
	Size image.Point
	// JPEG is the thumbnail as a JPEG.
	JPEG []byte
	// WebP is the same thumbnail as a WebP at the same quality setting, or nil when
	// that is not smaller than the JPEG (or Options.WebP is off).
	WebP []byte
}

// Result is what Make made.
type Result struct {
	Header
	// Renditions are in the order of Options.Widths.
	Renditions []Rendition
}

// Warm compiles the WebAssembly decoders and encoder ahead of the first image that
// needs them (a few hundred milliseconds each), so that image does not wait.
func Warm() {
	_ = de265.Init() // an error shows again at the first HEIC it would decode
	_ = dav1d.Init() // likewise, for AVIF
	gwebp.Init()
	avif.InitDecoder() // last: only AVIFs the dav1d path leaves need it
	heic.Init()        // likewise, for HEICs the libde265 path leaves
}

// Make decodes the whole encoded image b and renders one thumbnail per width. The
// output is deterministic: the same bytes and options give the same thumbnails.
func Make(b []byte, o Options) (Result, error) {
	if int64(len(b)) > o.Limits.MaxBytes {
		return Result{}, fmt.Errorf("%w: %d bytes, over the limit of %d", ErrTooLarge, len(b), o.Limits.MaxBytes)
	}
	if len(o.Widths) == 0 {
		return Result{}, errors.New("thumbnail: no widths")
	}
	for _, w := range o.Widths {
		if w < 1 {
			return Result{}, fmt.Errorf("thumbnail: width %d", w)
		}
	}
	h, err := Inspect(b, o)
	if errors.Is(err, ErrIncomplete) {
		return Result{}, fmt.Errorf("%w: truncated (%v)", ErrNotImage, err)
	}
	if err != nil {
		return Result{}, err
	}
	meta, err := checkStructure(h, b, o.Limits)
	if err != nil {
		return Result{}, err
	}
	_, _, dw, dh := h.targetSize(o.Widths)
	if o.MaxAspect > 0 && (dh > dw*o.MaxAspect || dw > dh*o.MaxAspect*4) {
		return Result{}, fmt.Errorf("%w: %d×%d is more elongated than 1:%d", ErrTooLarge, dw, dh, o.MaxAspect)
	}
	small, dec, err := decodeSmall(h, b, o.Widths, o.Limits.MaxPixels)
	if err != nil {
		return Result{}, err
	}
	if dec.Width != h.Width || dec.Height != h.Height {
		// A GIF's first frame may be smaller than its logical screen: use the frame.
		h.Width, h.Height = dec.Width, dec.Height
		_, _, dw, dh = h.targetSize(o.Widths)
	}
	orient := dec.Orientation
	res := Result{Header: h}
	icc := taggedProfile(meta.icc)
	for _, w := range o.Widths {
		tw := min(w, dw)
		th := max(1, int((int64(dh)*int64(tw)+int64(dw)/2)/int64(dw)))
		out := resample(small, tw, th, orient)
		r := Rendition{Width: w, Size: image.Pt(tw, th)}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, out, &jpeg.Options{Quality: o.Quality}); err != nil {
			return Result{}, fmt.Errorf("encode thumbnail: %w", err)
		}
		r.JPEG = withJPEGProfile(buf.Bytes(), icc)
		if o.WebP {
			var wb bytes.Buffer
			if err := gwebp.Encode(&wb, out, gwebp.Options{Quality: o.Quality, Method: 4}); err != nil {
				return Result{}, fmt.Errorf("encode WebP thumbnail: %w", err)
			}
			if wp := withWebPProfile(wb.Bytes(), icc, tw, th); len(wp) < len(r.JPEG) {
				r.WebP = wp
			}
		}
		res.Renditions = append(res.Renditions, r)
	}
	return res, nil
}

// decodeSmall decodes b on the planned path and shrinks it by a whole factor to about
// twice the largest width, straight from the decoded planes (or, for PNG, from each
// row as it is decoded), so the Lanczos resample works on a small image. dec is h as
// decoded: its orientation is the one still to apply to small, and its size the
// frame's (a GIF's first frame may be smaller than its logical screen).
func decodeSmall(h Header, b []byte, widths []int, maxPixels int64) (small *image.RGBA, dec Header, err error) {
	dec = h
	if h.pngStream {
		p, _ := readIHDR(b)
		small, err = shrinkPNGSafely(b, p, h.boxFactor(widths, h.Width, h.Height))
		return small, dec, err
	}
	var ok bool
	if small, ok, err = decodePlanes(h, b, widths, maxPixels); ok {
		return small, dec, err
	}
	m, orient, err := decode(h, b)
	if err != nil {
		return nil, dec, err
	}
	if h.Format == GIF {
		dec.Width, dec.Height = m.Bounds().Dx(), m.Bounds().Dy()
	}
	dec.Orientation = orient
	return shrink(m, dec.boxFactor(widths, m.Bounds().Dx(), m.Bounds().Dy())), dec, nil
}

// shrinkPNGSafely is shrinkPNG with a panic turned into ErrNotImage.
func shrinkPNGSafely(b []byte, p pngInfo, f int) (m *image.RGBA, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("%w: png decoder failed: %v", ErrNotImage, r)
		}
	}()
	return shrinkPNG(b, p, f)
}

// decode decodes b on the planned path and returns the image with the orientation
// still to apply. A decoder panic (a decoder bug met by hostile input) becomes
// ErrNotImage instead of a crash.
func decode(h Header, b []byte) (m image.Image, orient Orientation, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("%w: %s decoder failed: %v", ErrNotImage, h.Format, r)
		}
	}()
	orient = h.Orientation
	r := bytes.NewReader(b)
	switch h.Format {
	case JPEG:
		if h.scale > 0 {
			m, err = jpegdct.Decode(b, h.scale)
			if errors.Is(err, jpegdct.ErrTruncated) {
				return nil, 0, fmt.Errorf("%w: truncated JPEG (%v)", ErrNotImage, err)
			}
		} else {
			m, err = jpeg.Decode(r)
		}
	case PNG:
		m, err = png.Decode(r)
	case GIF:
		m, err = gif.Decode(r)
	case WebP:
		m, err = webp.Decode(r)
	case HEIC, AVIF:
		data := b
		if h.heifThumb != 0 {
			var ok bool
			if data, ok = withPrimary(b, h.heif.primary, h.heifThumb); !ok {
				data = b
			}
		}
		if h.Format == HEIC {
			// libheif would apply irot and imir to the full-size image, a second copy
			// of it (about 18 MB more for 12 MP, and a pass over every pixel): decode
			// as stored, and orient the small thumbnail here, as for AVIF.
			item := h.heif.primary
			if h.heifThumb != 0 {
				item = h.heifThumb
			}
			m, err = heic.Decode(bytes.NewReader(h.heif.withoutTransforms(data, item)))
		} else {
			m, err = avif.Decode(bytes.NewReader(data))
		}
	default:
		return nil, 0, ErrNotImage
	}
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %s: %v", ErrNotImage, h.Format, err)
	}
	return m, orient, nil
}

// heifDecodeBytes is what libheif and libavif (the HEIF files the planes path leaves)
// take for a w×h image: the module's
// linear memory (the file, the decoder's frame buffers, the converted output) lives on
// the Go heap, and grows by copying. Measured peaks of the Go heap of a whole job on
// 12-megapixel 8-bit images (services/thumbnailer TestPeakHeapPerFormat, and the heap
// peak make bench reports): HEIC about 20 bytes a pixel (libheif's and libde265's YCbCr
// planes), AVIF 56 to 60 (libaom's frame buffers, then RGBA, copied twice, and when
// the collector runs decides the rest); these keep 5% or more above.
func heifDecodeBytes(f Format, w, h, depth int) int64 {
	px := int64(w) * int64(h)
	perPixel := int64(21)
	if f == AVIF {
		perPixel = 64
	}
	if depth > 8 {
		perPixel = perPixel * 3 / 2
	}
	return perPixel*px + 16<<20 + workBytes
}
