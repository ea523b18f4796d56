package thumbnail

import (
	"errors"
	"fmt"
	"image"

	"github.com/serverless-architect/serverless-architect/internal/thumbnail/dav1d"
)

// decodeAV1 decodes an AVIF's image item (the primary, or the thumbnail item the plan
// chose) with dav1d and box-shrinks its planes straight into the small RGBA image, with
// no full-size copy. ok is false when the file needs the libavif path instead: an item
// dav1d cannot decode alone (see heifFile.av1Data), or a picture this path does not
// convert (only 8-bit pictures with a BT.601 matrix over the full range, what phones
// and heif-enc write, are converted here).
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
		var ratio image.YCbCrSubsampleRatio
		switch p.Layout {
		case dav1d.Layout420:
			ratio = image.YCbCrSubsampleRatio420
		case dav1d.Layout422:
			ratio = image.YCbCrSubsampleRatio422
		case dav1d.Layout444:
			ratio = image.YCbCrSubsampleRatio444
		default:
			return errUnsupported
		}
		// H.273 matrix 5 and 6 are BT.601, 2 unspecified (libavif reads it as BT.601).
		bt601 := colour.matrix == 5 || colour.matrix == 6 || colour.matrix == 2
		if p.BitDepth != 8 || !bt601 || !colour.fullRange {
			return errUnsupported
		}
		if p.Width != w || p.Height != ht {
			// The container's size (ispe) is what the limits were checked against.
			return fmt.Errorf("%w: AVIF: the coded picture is %d×%d, the container says %d×%d", ErrNotImage, p.Width, p.Height, w, ht)
		}
		m := &image.YCbCr{Y: p.Y, Cb: p.Cb, Cr: p.Cr, YStride: p.YStride, CStride: p.CStride,
			SubsampleRatio: ratio, Rect: image.Rect(0, 0, p.Width, p.Height)}
		hs, vs, _ := chromaFactors(ratio)
		small = shrinkYCbCr(m, h.boxFactor(widths, p.Width, p.Height), hs, vs)
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
