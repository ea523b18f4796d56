// Package thumbnail turns an uploaded photo into small JPEG thumbnails, safely: the
// header is read first (DecodeConfig) and images over the pixel limit are refused before
// anything large is allocated; the memory a decode will need is estimated from the
// header so callers can budget it; EXIF orientation is honoured; and the resize is done
// in two steps (an integer box shrink straight from the decoded planes, then a
// Catmull-Rom resample), which is most of the speed of a native thumbnailer.
//
// JPEG, PNG, GIF (first frame) and WebP are read, in pure Go.
package thumbnail

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/webp"
)

// Format is an input image format.
type Format string

// The formats read.
const (
	JPEG Format = "jpeg"
	PNG  Format = "png"
	GIF  Format = "gif"
	WebP Format = "webp"
)

// Errors Inspect and Make return. ErrNotImage and ErrTooLarge are final: the same
// bytes will never succeed.
var (
	// ErrNotImage: the bytes are not a JPEG, PNG, GIF or WebP image, or are corrupt.
	ErrNotImage = errors.New("not a supported image (JPEG, PNG, GIF or WebP)")
	// ErrTooLarge: the image is over a limit.
	ErrTooLarge = errors.New("image too large")
	// ErrIncomplete: the bytes given to Inspect end before the image's header does.
	ErrIncomplete = errors.New("image header incomplete")
)

// Limits bound what is decoded.
type Limits struct {
	// MaxPixels is the largest width×height accepted.
	MaxPixels int64
	// MaxBytes is the largest encoded size accepted.
	MaxBytes int64
}

// DefaultLimits are 50 megapixels and 25 MB.
var DefaultLimits = Limits{MaxPixels: 50_000_000, MaxBytes: 25 << 20}

// Header is what an image's header says, read without decoding it.
type Header struct {
	Format Format
	// Width and Height are the stored dimensions (before EXIF orientation).
	Width, Height int
	// DecodeBytes estimates the memory the decoder allocates for the image.
	DecodeBytes int64
}

// Inspect reads the header at the start of b (b need not hold the whole image) and
// checks it against l. It fails with ErrNotImage, ErrTooLarge or ErrIncomplete.
func Inspect(b []byte, l Limits) (Header, error) {
	f := sniff(b)
	if f == "" {
		if len(b) < 12 {
			return Header{}, ErrIncomplete
		}
		return Header{}, ErrNotImage
	}
	cfg, err := decodeConfig(f, bytes.NewReader(b))
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return Header{}, fmt.Errorf("%w: %s header: %v", ErrIncomplete, f, err)
		}
		return Header{}, fmt.Errorf("%w: %s header: %v", ErrNotImage, f, err)
	}
	h := Header{Format: f, Width: cfg.Width, Height: cfg.Height}
	if h.Width <= 0 || h.Height <= 0 {
		return Header{}, fmt.Errorf("%w: %s of %d×%d pixels", ErrNotImage, f, h.Width, h.Height)
	}
	if px := int64(h.Width) * int64(h.Height); px > l.MaxPixels {
		return Header{}, fmt.Errorf("%w: %d×%d is %.1f megapixels, over the limit of %.1f", ErrTooLarge,
			h.Width, h.Height, float64(px)/1e6, float64(l.MaxPixels)/1e6)
	}
	h.DecodeBytes = decodeBytes(f, b, cfg)
	return h, nil
}

// sniff names the format from the magic bytes, or "".
func sniff(b []byte) Format {
	switch {
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return JPEG
	case bytes.HasPrefix(b, pngSignature):
		return PNG
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return GIF
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return WebP
	}
	return ""
}

func decodeConfig(f Format, r io.Reader) (image.Config, error) {
	switch f {
	case JPEG:
		return jpeg.DecodeConfig(r)
	case PNG:
		return png.DecodeConfig(r)
	case GIF:
		return gif.DecodeConfig(r)
	case WebP:
		return webp.DecodeConfig(r)
	}
	return image.Config{}, ErrNotImage
}

// decode decodes b, turning a decoder panic (a decoder bug met by hostile input) into
// ErrNotImage instead of a crash.
func decode(f Format, b []byte) (m image.Image, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("%w: %s decoder failed: %v", ErrNotImage, f, r)
		}
	}()
	r := bytes.NewReader(b)
	switch f {
	case JPEG:
		m, err = jpeg.Decode(r)
	case PNG:
		m, err = png.Decode(r)
	case GIF:
		m, err = gif.Decode(r)
	case WebP:
		m, err = webp.Decode(r)
	default:
		return nil, ErrNotImage
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrNotImage, f, err)
	}
	return m, nil
}

// Options say which thumbnails Make renders.
type Options struct {
	// Widths are the thumbnail widths in pixels, as displayed (after orientation). An
	// image narrower than a width is not enlarged.
	Widths []int
	// Quality is the JPEG quality, 1..100.
	Quality int
	// Limits are checked before decoding.
	Limits Limits
	// MaxAspect bounds height/width of a thumbnail; taller images are refused (a
	// 1×50,000,000 image would otherwise make a huge "thumbnail").
	MaxAspect int
}

// DefaultOptions: one thumbnail 256 pixels wide, quality 82.
var DefaultOptions = Options{Widths: []int{256}, Quality: 82, Limits: DefaultLimits, MaxAspect: 16}

// Rendition is one thumbnail.
type Rendition struct {
	// Width is the requested width; the JPEG is this wide unless the image was narrower.
	Width int
	// Size is the JPEG's actual size in pixels.
	Size image.Point
	// JPEG is the encoded thumbnail.
	JPEG []byte
}

// Result is what Make made.
type Result struct {
	Header
	// Orientation is the EXIF orientation that was applied.
	Orientation Orientation
	// Renditions are in the order of Options.Widths.
	Renditions []Rendition
}

// Make decodes the whole encoded image b and renders one JPEG per width. The output is
// deterministic: the same bytes and options give the same thumbnails.
func Make(b []byte, o Options) (Result, error) {
	if int64(len(b)) > o.Limits.MaxBytes {
		return Result{}, fmt.Errorf("%w: %d bytes, over the limit of %d", ErrTooLarge, len(b), o.Limits.MaxBytes)
	}
	if len(o.Widths) == 0 {
		return Result{}, errors.New("thumbnail: no widths")
	}
	h, err := Inspect(b, o.Limits)
	if errors.Is(err, ErrIncomplete) {
		return Result{}, fmt.Errorf("%w: truncated (%v)", ErrNotImage, err)
	}
	if err != nil {
		return Result{}, err
	}
	orient := orientationOf(h.Format, b)
	dw, dh := h.Width, h.Height
	if orient.swapsAxes() {
		dw, dh = dh, dw
	}
	maxW := 0
	for _, w := range o.Widths {
		if w < 1 {
			return Result{}, fmt.Errorf("thumbnail: width %d", w)
		}
		maxW = max(maxW, min(w, dw))
	}
	if o.MaxAspect > 0 && dh > dw*o.MaxAspect {
		return Result{}, fmt.Errorf("%w: %d×%d is taller than 1:%d", ErrTooLarge, dw, dh, o.MaxAspect)
	}
	m, err := decode(h.Format, b)
	if err != nil {
		return Result{}, err
	}
	if m.Bounds().Dx() != h.Width || m.Bounds().Dy() != h.Height {
		// GIF frames may be smaller than the logical screen; use what was decoded.
		h.Width, h.Height = m.Bounds().Dx(), m.Bounds().Dy()
		dw, dh = h.Width, h.Height
		if orient.swapsAxes() {
			dw, dh = dh, dw
		}
		maxW = 0
		for _, w := range o.Widths {
			maxW = max(maxW, min(w, dw))
		}
	}
	// Shrink by a whole factor to about twice the largest width, straight from the
	// decoded planes; the quality resample then works on a small image.
	f := dw / (2 * maxW)
	small := shrink(m, max(f, 1))
	m = nil // let the full-size image go before encoding
	res := Result{Header: h, Orientation: orient}
	for _, w := range o.Widths {
		tw := min(w, dw)
		th := max(1, int((int64(dh)*int64(tw)+int64(dw)/2)/int64(dw)))
		out := resample(small, tw, th, orient)
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, out, &jpeg.Options{Quality: o.Quality}); err != nil {
			return Result{}, fmt.Errorf("encode thumbnail: %w", err)
		}
		res.Renditions = append(res.Renditions, Rendition{Width: w, Size: image.Pt(tw, th), JPEG: buf.Bytes()})
	}
	return res, nil
}

// bytesPerPixel is what an image of the color model takes per pixel.
func bytesPerPixel(m color.Model) int64 {
	switch m {
	case color.GrayModel, color.AlphaModel:
		return 1
	case color.Gray16Model, color.Alpha16Model:
		return 2
	case color.RGBA64Model, color.NRGBA64Model:
		return 8
	case color.YCbCrModel:
		return 3
	case color.NYCbCrAModel:
		return 4
	}
	if _, ok := m.(color.Palette); ok {
		return 1
	}
	return 4
}
