package thumbnail

import (
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
)

// pngInfo is a PNG's IHDR, and whether shrinkPNG reads it row by row.
type pngInfo struct {
	width, height     int
	depth, colorType  int
	interlaced        bool
	channels, rowSize int
}

// readIHDR reads the header chunk that follows the signature.
func readIHDR(b []byte) (pngInfo, bool) {
	if len(b) < 33 || string(b[12:16]) != "IHDR" {
		return pngInfo{}, false
	}
	p := pngInfo{
		width: int(binary.BigEndian.Uint32(b[16:])), height: int(binary.BigEndian.Uint32(b[20:])),
		depth: int(b[24]), colorType: int(b[25]), interlaced: b[28] != 0,
	}
	p.channels = map[int]int{0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[p.colorType]
	if p.channels == 0 || p.width <= 0 || p.height <= 0 {
		return pngInfo{}, false
	}
	p.rowSize = (p.width*p.channels*p.depth + 7) / 8
	return p, true
}

// streamable reports whether shrinkPNG decodes the image: every non-interlaced one.
// (Adam7's passes cannot be reduced row by row; image/png decodes those whole.)
func (p pngInfo) streamable() bool { return !p.interlaced }

// streamBytes is what shrinkPNG allocates for a reduction by f: two rows, the column
// sums, the reduced image and zlib's window.
func (p pngInfo) streamBytes(f int) int64 {
	ow, oh := int64((p.width+f-1)/f), int64((p.height+f-1)/f)
	return 2*int64(p.rowSize+1) + 40*ow + 4*ow*oh + 64<<10
}

// idatReader reads the concatenated payload of a PNG's IDAT chunks in place.
type idatReader struct {
	b    []byte
	pos  int
	left int // bytes left in the current IDAT chunk
}

func (r *idatReader) Read(p []byte) (int, error) {
	for r.left == 0 {
		if r.pos+8 > len(r.b) {
			return 0, io.ErrUnexpectedEOF
		}
		n := int(binary.BigEndian.Uint32(r.b[r.pos:]))
		typ := string(r.b[r.pos+4 : r.pos+8])
		if n < 0 || n > len(r.b)-r.pos-12 {
			return 0, io.ErrUnexpectedEOF
		}
		if typ == "IEND" {
			return 0, io.EOF
		}
		r.pos += 8
		if typ != "IDAT" {
			r.pos += n + 4
			continue
		}
		r.left = n
		if n == 0 {
			r.pos += 4
		}
	}
	k := copy(p, r.b[r.pos:r.pos+min(r.left, len(p))])
	r.pos += k
	r.left -= k
	if r.left == 0 {
		r.pos += 4 // CRC
	}
	return k, nil
}

// shrinkPNG decodes a non-interlaced PNG row by row straight into the f×f box averages
// shrink makes (premultiplied RGBA, the same values as shrinking image/png's image):
// only two rows of the image ever exist.
func shrinkPNG(b []byte, p pngInfo, f int) (*image.RGBA, error) {
	var palette [256][4]uint32
	var key [3]uint32
	hasKey := false
	for i := len(pngSignature); i+8 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[i:]))
		typ := string(b[i+4 : i+8])
		if n < 0 || n > len(b)-i-12 {
			break
		}
		data := b[i+8 : i+8+n]
		switch typ {
		case "PLTE":
			for k := 0; k+2 < len(data) && k/3 < 256; k += 3 {
				palette[k/3] = rgba(color.NRGBA{data[k], data[k+1], data[k+2], 0xFF})
			}
		case "tRNS":
			switch p.colorType {
			case 3:
				for k, a := range data[:min(len(data), 256)] {
					c := palette[k]
					palette[k] = rgba(color.NRGBA{uint8(c[0] >> 8), uint8(c[1] >> 8), uint8(c[2] >> 8), a})
				}
			case 0:
				if len(data) >= 2 {
					key[0], hasKey = uint32(binary.BigEndian.Uint16(data)), true
				}
			case 2:
				if len(data) >= 6 {
					key = [3]uint32{uint32(binary.BigEndian.Uint16(data)), uint32(binary.BigEndian.Uint16(data[2:])), uint32(binary.BigEndian.Uint16(data[4:]))}
					hasKey = true
				}
			}
		case "IDAT":
			return p.shrinkRows(b, i, f, &palette, key, hasKey)
		}
		i += 12 + n
	}
	return nil, fmt.Errorf("%w: png: no image data", ErrNotImage)
}

// rgba is the premultiplied 16-bit colour image.Image.At(...).RGBA() gives.
func rgba(c color.Color) [4]uint32 {
	r, g, b, a := c.RGBA()
	return [4]uint32{r, g, b, a}
}

func (p pngInfo) shrinkRows(b []byte, idat, f int, palette *[256][4]uint32, key [3]uint32, hasKey bool) (*image.RGBA, error) {
	z, err := zlib.NewReader(&idatReader{b: b, pos: idat})
	if err != nil {
		return nil, fmt.Errorf("%w: png: %v", ErrNotImage, err)
	}
	w, h := p.width, p.height
	ow, oh := (w+f-1)/f, (h+f-1)/f
	dst := image.NewRGBA(image.Rect(0, 0, ow, oh))
	sums := make([][4]uint64, ow)
	cur, prev := make([]byte, p.rowSize+1), make([]byte, p.rowSize+1)
	bpp := max(1, p.channels*p.depth/8)
	maxv := uint32(1)<<p.depth - 1
	for y := range h {
		if _, err := io.ReadFull(z, cur); err != nil {
			return nil, fmt.Errorf("%w: png: truncated image data at row %d of %d (%v)", ErrNotImage, y+1, h, err)
		}
		if err := unfilter(cur, prev, bpp); err != nil {
			return nil, err
		}
		row := cur[1:]
		for x := range w {
			var c [4]uint32
			switch {
			case p.colorType == 3:
				idx := sample(row, x, p.depth)
				c = palette[idx]
			case p.depth == 16:
				v := func(k int) uint32 { return uint32(binary.BigEndian.Uint16(row[2*(x*p.channels+k):])) }
				switch p.colorType {
				case 0:
					g := v(0)
					c = rgba(color.Gray16{uint16(g)})
					if hasKey && g == key[0] {
						c = [4]uint32{}
					}
				case 2:
					r, g, bl := v(0), v(1), v(2)
					c = rgba(color.RGBA64{uint16(r), uint16(g), uint16(bl), 0xFFFF})
					if hasKey && r == key[0] && g == key[1] && bl == key[2] {
						c = [4]uint32{}
					}
				case 4:
					c = rgba(color.NRGBA64{uint16(v(0)), uint16(v(0)), uint16(v(0)), uint16(v(1))})
				case 6:
					c = rgba(color.NRGBA64{uint16(v(0)), uint16(v(1)), uint16(v(2)), uint16(v(3))})
				}
			default: // 8 bits or fewer
				switch p.colorType {
				case 0:
					g := sample(row, x, p.depth)
					c = rgba(color.Gray{uint8(g * 0xFF / maxv)})
					if hasKey && g == key[0] {
						c = [4]uint32{}
					}
				case 2:
					r, g, bl := row[3*x], row[3*x+1], row[3*x+2]
					c = rgba(color.RGBA{r, g, bl, 0xFF})
					if hasKey && uint32(r) == key[0] && uint32(g) == key[1] && uint32(bl) == key[2] {
						c = [4]uint32{}
					}
				case 4:
					c = rgba(color.NRGBA{row[2*x], row[2*x], row[2*x], row[2*x+1]})
				case 6:
					c = rgba(color.NRGBA{row[4*x], row[4*x+1], row[4*x+2], row[4*x+3]})
				}
			}
			s := &sums[x/f]
			s[0] += uint64(c[0])
			s[1] += uint64(c[1])
			s[2] += uint64(c[2])
			s[3] += uint64(c[3])
		}
		cur, prev = prev, cur
		if (y+1)%f == 0 || y == h-1 {
			rows := uint64(y%f + 1)
			oy := y / f
			for ox := range ow {
				cols := uint64(min(ox*f+f, w) - ox*f)
				n := rows * cols * 257
				i := oy*dst.Stride + 4*ox
				for k := range 4 {
					dst.Pix[i+k] = uint8((sums[ox][k] + n/2) / n)
				}
			}
			clear(sums)
		}
	}
	return dst, nil
}

// sample reads the x-th sample of depth bits (1, 2, 4 or 8) from a packed row.
func sample(row []byte, x, depth int) uint32 {
	switch depth {
	case 8:
		return uint32(row[x])
	case 4:
		return uint32(row[x/2]>>(4-4*(x%2))) & 0x0F
	case 2:
		return uint32(row[x/4]>>(6-2*(x%4))) & 0x03
	}
	return uint32(row[x/8]>>(7-x%8)) & 0x01
}

// errFilter is a row with an unknown filter type.
var errFilter = errors.New("png: bad filter type")

// unfilter undoes a row's filter (PNG specification, 9.2) in place; cur[0] and prev[0]
// are filter bytes.
func unfilter(cur, prev []byte, bpp int) error {
	c, p := cur[1:], prev[1:]
	switch cur[0] {
	case 0:
	case 1:
		for i := bpp; i < len(c); i++ {
			c[i] += c[i-bpp]
		}
	case 2:
		for i := range c {
			c[i] += p[i]
		}
	case 3:
		for i := range c {
			var left int
			if i >= bpp {
				left = int(c[i-bpp])
			}
			c[i] += byte((left + int(p[i])) / 2)
		}
	case 4:
		for i := range c {
			var a, cc int
			if i >= bpp {
				a, cc = int(c[i-bpp]), int(p[i-bpp])
			}
			bb := int(p[i])
			pa, pb, pc := abs(bb-cc), abs(a-cc), abs(a+bb-2*cc)
			switch {
			case pa <= pb && pa <= pc:
				c[i] += byte(a)
			case pb <= pc:
				c[i] += byte(bb)
			default:
				c[i] += byte(cc)
			}
		}
	default:
		return fmt.Errorf("%w: %w %d", ErrNotImage, errFilter, cur[0])
	}
	return nil
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
