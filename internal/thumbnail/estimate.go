package thumbnail

import (
	"encoding/binary"
	"image"
	"image/color"
)

// workBytes is a fixed allowance for decoder tables, row buffers, the shrunk
// intermediate image and the encoded thumbnails.
const workBytes = 4 << 20

// decodeBytes estimates the bytes the decoder of format f allocates for an image whose
// header is at the start of b, following what the Go decoders do.
func decodeBytes(f Format, b []byte, cfg image.Config) int64 {
	px := int64(cfg.Width) * int64(cfg.Height)
	switch f {
	case JPEG:
		if n, ok := jpegDecodeBytes(b); ok {
			return n + workBytes
		}
		// No SOF in b: assume the worst the decoder can do (progressive 4:4:4).
		return 15*px + workBytes
	case PNG:
		n := bytesPerPixel(cfg.ColorModel) * px
		if len(b) > 28 && b[28] == 1 {
			// Adam7: the seven passes are decoded into images of their own, then merged.
			n *= 2
		}
		return n + workBytes
	case GIF:
		return px + workBytes
	case WebP:
		switch cfg.ColorModel {
		case color.YCbCrModel:
			return 3*px/2 + workBytes // 4:2:0
		default:
			// Lossless (NRGBA) decodes into a []uint32 then converts; alpha likewise.
			return 8*px + workBytes
		}
	}
	return 8*px + workBytes
}

// jpegDecodeBytes reads the SOF segment of a JPEG and computes what image/jpeg
// allocates: the sample planes of every component (padded to whole MCUs), the
// coefficients of every block for progressive images, and the extra CMYK image for
// four-component files.
func jpegDecodeBytes(b []byte) (int64, bool) {
	sof, progressive := jpegSOF(b)
	if len(sof) < 6 {
		return 0, false
	}
	height, width := int64(binary.BigEndian.Uint16(sof[1:])), int64(binary.BigEndian.Uint16(sof[3:]))
	nc := int(sof[5])
	if nc < 1 || len(sof) < 6+3*nc {
		return 0, false
	}
	var hmax, vmax int64 = 1, 1
	hv := make([][2]int64, nc)
	for i := range nc {
		s := sof[6+3*i+1]
		hv[i] = [2]int64{max(int64(s>>4), 1), max(int64(s&0x0F), 1)}
		hmax, vmax = max(hmax, hv[i][0]), max(vmax, hv[i][1])
	}
	if nc == 1 {
		hv[0], hmax, vmax = [2]int64{1, 1}, 1, 1
	}
	mxx := (width + 8*hmax - 1) / (8 * hmax)
	myy := (height + 8*vmax - 1) / (8 * vmax)
	var n int64
	for _, c := range hv {
		blocks := mxx * myy * c[0] * c[1]
		n += 64 * blocks // samples
		if progressive {
			n += 256 * blocks // [64]int32 per block
		}
	}
	if nc == 4 {
		n += 4 * width * height
	}
	return n, true
}

// jpegSOF returns the payload of the first SOFn segment and whether it is progressive.
func jpegSOF(b []byte) ([]byte, bool) {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return nil, false
	}
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xFF {
			return nil, false
		}
		m := b[i+1]
		switch {
		case m == 0xFF:
			i++
			continue
		case m == 0x01 || (m >= 0xD0 && m <= 0xD7):
			i += 2
			continue
		case m == 0xDA || m == 0xD9:
			return nil, false
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return nil, false
		}
		if m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC {
			return b[i+4 : i+2+n], m == 0xC2 || m == 0xC6 || m == 0xCA || m == 0xCE
		}
		i += 2 + n
	}
	return nil, false
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
