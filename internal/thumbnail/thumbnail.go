// Package thumbnail turns an uploaded photo into small thumbnails, safely and fast.
//
// Safely: the format is sniffed from the bytes (never taken from a name or a declared
// type); the header is read first, and dimensions, frame counts and metadata sizes are
// checked against Limits before anything large is allocated; the memory a decode will
// need is estimated from the header so callers can budget it; the whole file's
// structure is walked before decoding, so truncated files, data appended after the
// image (polyglots) and oversized metadata are refused with a reason; a decoder panic
// on hostile input is an error, never a crash.
//
// Fast: JPEG is decoded at 1/2, 1/4 or 1/8 scale in the DCT domain (package jpegdct),
// so a 12-megapixel photo becomes a 500-pixel image before any pixel is resampled;
// PNG is decoded row by row into its reduction; HEIC and AVIF files that carry a large
// enough thumbnail image are decoded from it. A box shrink straight from the decoded
// planes, then a Lanczos-3 resample, make each size.
//
// Formats in: JPEG, PNG, GIF (first frame) and WebP in pure Go; HEIC (libde265) and
// AVIF (dav1d), from the coded data this package finds in the boxes, grid tiles in
// parallel, compiled to WebAssembly and run by wazero (package planar), so the binary
// stays static and cgo-free; libheif and libavif (also WebAssembly) take the files
// those leave: an AVIF's or a grid's alpha plane, a colour matrix the
// planes path does not convert, a grid descriptor split over several extents, an image
// item stored in idat.
// Orientation (EXIF, or HEIF's irot/imir) is
// applied. Out: JPEG, and WebP when it is smaller at the same quality setting; an ICC
// profile other than sRGB is carried over into both.
package thumbnail

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/webp"

	"github.com/serverless-architect/serverless-architect/internal/thumbnail/jpegdct"
)

// Format is an input image format.
type Format string

// The formats read.
const (
	JPEG Format = "jpeg"
	PNG  Format = "png"
	GIF  Format = "gif"
	WebP Format = "webp"
	HEIC Format = "heic"
	AVIF Format = "avif"
)

// Formats are the formats read, in the order error messages list them.
var Formats = []Format{JPEG, PNG, GIF, WebP, HEIC, AVIF}

// ContentType is the format's media type (image/heic covers HEIF files coded with HEVC).
func (f Format) ContentType() string {
	return "image/" + string(f)
}

// Errors Inspect and Make return. ErrNotImage and ErrTooLarge are final: the same
// bytes will never succeed.
var (
	// ErrNotImage: the bytes are not a JPEG, PNG, GIF, WebP, HEIC or AVIF image, or
	// are corrupt, truncated or carry data that is not part of the image.
	ErrNotImage = errors.New("not a supported image (JPEG, PNG, GIF, WebP, HEIC or AVIF)")
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
	// MaxMetadataBytes bounds the metadata (EXIF, XMP, ICC, comments, text chunks,
	// unknown chunks) a file may carry.
	MaxMetadataBytes int64
	// MaxFrames bounds the frames of an animation or image sequence (the first frame
	// is the one thumbnailed).
	MaxFrames int
}

// DefaultLimits are 50 megapixels, 25 MB, 1 MB of metadata and 1,000 frames.
var DefaultLimits = Limits{MaxPixels: 50_000_000, MaxBytes: 25 << 20, MaxMetadataBytes: 1 << 20, MaxFrames: 1000}

// Header is what an image's header says, read without decoding it, and how Make will
// decode it.
type Header struct {
	Format Format
	// Width and Height are the stored dimensions (before orientation).
	Width, Height int
	// Orientation is the transform that shows the image upright (EXIF, or HEIF's
	// irot/imir).
	Orientation Orientation
	// DecodeBytes estimates the memory the decoder allocates for the image, on the
	// path Make will take for the options Inspect was given.
	DecodeBytes int64

	// scale is the JPEG DCT scale denominator (1, 2, 4, 8); 0 decodes with image/jpeg.
	scale int
	jpeg  jpegdct.Info
	// pngStream: the PNG is decoded row by row into its box shrink (shrinkPNG).
	pngStream bool
	heif      *heifFile
	// heifThumb is the HEIF item decoded instead of the primary (0: the primary).
	heifThumb uint32
}

// Inspect reads the header at the start of b (b need not hold the whole image), checks
// it against o.Limits and plans the decode for o.Widths. It fails with ErrNotImage,
// ErrTooLarge or ErrIncomplete.
func Inspect(b []byte, o Options) (Header, error) {
	f := sniff(b)
	if f == "" {
		if len(b) < 32 {
			return Header{}, ErrIncomplete
		}
		return Header{}, ErrNotImage
	}
	h := Header{Format: f, Orientation: Normal}
	var err error
	switch f {
	case JPEG:
		err = inspectJPEG(&h, b)
	case HEIC, AVIF:
		err = inspectHEIF(&h, b, o.Limits)
	default:
		var cfg image.Config
		cfg, err = decodeConfig(f, bytes.NewReader(b))
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return Header{}, fmt.Errorf("%w: %s header: %v", ErrIncomplete, f, err)
		}
		if err != nil {
			return Header{}, fmt.Errorf("%w: %s header: %v", ErrNotImage, f, err)
		}
		h.Width, h.Height = cfg.Width, cfg.Height
		h.Orientation = orientationOf(f, b)
		h.DecodeBytes = decodeBytes(f, b, cfg)
	}
	if err != nil {
		return Header{}, err
	}
	if h.Width <= 0 || h.Height <= 0 {
		return Header{}, fmt.Errorf("%w: %s of %d×%d pixels", ErrNotImage, f, h.Width, h.Height)
	}
	if px := int64(h.Width) * int64(h.Height); px > o.Limits.MaxPixels {
		return Header{}, fmt.Errorf("%w: %d×%d is %.1f megapixels, over the limit of %.1f", ErrTooLarge,
			h.Width, h.Height, float64(px)/1e6, float64(o.Limits.MaxPixels)/1e6)
	}
	h.plan(o, b)
	return h, nil
}

// inspectJPEG reads a JPEG's frame header with the scaled decoder, or with image/jpeg
// for the files that decoder leaves to it.
func inspectJPEG(h *Header, b []byte) error {
	h.Orientation = orientationOf(JPEG, b)
	info, err := jpegdct.Inspect(b)
	switch {
	case errors.Is(err, jpegdct.ErrTruncated):
		return fmt.Errorf("%w: jpeg header: %v", ErrIncomplete, err)
	case errors.Is(err, jpegdct.ErrUnsupported):
		cfg, cerr := jpeg.DecodeConfig(bytes.NewReader(b))
		if errors.Is(cerr, io.ErrUnexpectedEOF) || errors.Is(cerr, io.EOF) {
			return fmt.Errorf("%w: jpeg header: %v", ErrIncomplete, cerr)
		}
		if cerr != nil {
			return fmt.Errorf("%w: jpeg: %v", ErrNotImage, err)
		}
		h.Width, h.Height = cfg.Width, cfg.Height
		h.DecodeBytes = decodeBytes(JPEG, b, cfg)
		return nil
	case err != nil:
		return fmt.Errorf("%w: %v", ErrNotImage, err)
	}
	h.Width, h.Height, h.scale, h.jpeg = info.Width, info.Height, 1, info
	return nil
}

// inspectHEIF reads an HEIF file's boxes.
func inspectHEIF(h *Header, b []byte, l Limits) error {
	hf, err := parseHEIF(b)
	if err != nil {
		return err
	}
	if h.Format == HEIC && hf.items[hf.primary].typ == "av01" || h.Format == AVIF && hf.items[hf.primary].typ == "hvc1" {
		h.Format = map[Format]Format{HEIC: AVIF, AVIF: HEIC}[h.Format]
	}
	if l.MaxFrames > 0 && hf.frames > l.MaxFrames {
		return fmt.Errorf("%w: an image sequence of %d frames, over the limit of %d", ErrTooLarge, hf.frames, l.MaxFrames)
	}
	if l.MaxMetadataBytes > 0 && hf.metadata > l.MaxMetadataBytes {
		return fmt.Errorf("%w: %d bytes of metadata, over the limit of %d", ErrTooLarge, hf.metadata, l.MaxMetadataBytes)
	}
	h.heif, h.Width, h.Height, h.Orientation = hf, hf.width, hf.height, hf.orientation()
	return nil
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
	return heifBrand(b)
}

// Sniff names the format of the image whose first bytes are b ("" when none is
// recognised): what a file is, whatever its name or declared type says.
func Sniff(b []byte) Format { return sniff(b) }

func decodeConfig(f Format, r io.Reader) (image.Config, error) {
	switch f {
	case PNG:
		return png.DecodeConfig(r)
	case GIF:
		return gif.DecodeConfig(r)
	case WebP:
		return webp.DecodeConfig(r)
	}
	return image.Config{}, ErrNotImage
}

// targetSize is the largest thumbnail's size as displayed, and the display size.
func (h *Header) targetSize(widths []int) (tw, th, dw, dh int) {
	dw, dh = h.Width, h.Height
	if h.Orientation.swapsAxes() {
		dw, dh = dh, dw
	}
	for _, w := range widths {
		tw = max(tw, min(w, dw))
	}
	tw = max(tw, 1)
	th = max(1, int((int64(dh)*int64(tw)+int64(dw)/2)/int64(dw)))
	return tw, th, dw, dh
}

// boxFactor is the whole factor the decoded image is box-shrunk by: to about twice the
// largest thumbnail's width.
func (h *Header) boxFactor(widths []int, decodedW, decodedH int) int {
	tw, _, _, _ := h.targetSize(widths)
	w := decodedW
	if h.Orientation.swapsAxes() {
		w = decodedH
	}
	return max(w/(2*tw), 1)
}

// plan picks the cheapest decode that still gives at least the largest thumbnail's
// pixels, and sets DecodeBytes for it.
func (h *Header) plan(o Options, b []byte) {
	tw, th, _, _ := h.targetSize(o.Widths)
	sw, sh := tw, th // the target in stored orientation
	if h.Orientation.swapsAxes() {
		sw, sh = th, tw
	}
	switch {
	case h.Format == PNG:
		if p, ok := readIHDR(b); ok && p.streamable() {
			h.pngStream = true
			h.DecodeBytes = p.streamBytes(h.boxFactor(o.Widths, h.Width, h.Height)) + workBytes
		}
	case h.Format == JPEG && h.scale > 0:
		h.scale = jpegdct.Scale(h.Width, h.Height, sw, sh)
		w, hh := h.jpeg.ScaledSize(h.scale)
		// The decoder's planes, then the RGBA image the box shrink makes.
		h.DecodeBytes = h.jpeg.DecodeBytes(h.scale) + 4*int64(w)*int64(hh) + workBytes
	case h.heif != nil:
		hf := h.heif
		// A thumbnail item in the file, if it is big enough (in the primary's stored
		// orientation: thumbnails carry the same transforms). libheif decodes one named
		// primary in place of the real one, and dav1d and libde265 any item of theirs;
		// libavif refuses it.
		thumb := hf.thumbnail != 0 && hf.thumbWidth >= sw && hf.thmbHigh >= sh
		switch {
		case thumb && hf.planesDecode(b, hf.thumbnail):
			h.heifThumb = hf.thumbnail
			h.DecodeBytes = hf.planesDecodeBytes(hf.thumbnail, hf.thumbWidth, hf.thmbHigh)
		case thumb && h.Format == HEIC:
			h.heifThumb = hf.thumbnail
			h.DecodeBytes = heifDecodeBytes(h.Format, hf.thumbWidth, hf.thmbHigh, hf.bitDepth)
		default:
			h.DecodeBytes = heifDecodeBytes(h.Format, hf.width, hf.height, hf.bitDepth)
			switch {
			case hf.planesDecode(b, hf.primary):
				h.DecodeBytes = hf.planesDecodeBytes(hf.primary, hf.width, hf.height)
			case hf.items[hf.primary].typ == "grid" && hf.planesGridPlanned(b):
				h.DecodeBytes = hf.planesGridBytes()
			case hf.items[hf.primary].typ == "grid" && hf.planesDecodeGrid(b):
				// Either path, as the first tile's colour description decides: the
				// larger amount (a small grid's decoder instances can outweigh libheif).
				h.DecodeBytes = max(h.DecodeBytes, hf.planesGridBytes())
			}
		}
	}
	if h.DecodeBytes > 0 {
		for _, w := range o.Widths {
			h.DecodeBytes += resampleBytes(min(w, tw), th*min(w, tw)/tw)
		}
	}
}

// resampleBytes is what resampling to one tw×th thumbnail allocates: x/image/draw's
// intermediate of four float64 channels per pixel, the source at most about twice the
// thumbnail's height, the scaled and the oriented image, and the encoders' buffers.
func resampleBytes(tw, th int) int64 {
	return int64(tw) * int64(th) * (64 + 4 + 4 + 8)
}
