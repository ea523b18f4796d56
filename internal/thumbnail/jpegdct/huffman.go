package jpegdct

import "fmt"

// lutBits is how many bits the first lookup of a Huffman code covers; nearly every code
// of a photo is that short.
const lutBits = 9

// huffman is one decoding table.
type huffman struct {
	// lut holds length<<8 | value for codes of at most lutBits bits, indexed by the next
	// lutBits bits of input; 0 means a longer code.
	lut [1 << lutBits]uint16
	// maxcode[l] is the largest code of length l (-1 when none); valptr[l] is the index
	// in vals of the first code of length l minus that code.
	maxcode [17]int32
	valptr  [17]int32
	vals    [256]byte
	defined bool
}

// build makes the canonical code of JPEG's Annex C from the code counts per length.
func (h *huffman) build(counts [17]int, vals []byte) error {
	*h = huffman{defined: true}
	copy(h.vals[:], vals)
	code, k := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		h.maxcode[l] = -1
		n := int32(counts[l])
		if n > 0 {
			h.valptr[l] = k - code
			for range n {
				if l <= lutBits {
					first := code << (lutBits - l)
					for i := range int32(1) << (lutBits - l) {
						h.lut[first+i] = uint16(l)<<8 | uint16(h.vals[k])
					}
				}
				code++
				k++
			}
			h.maxcode[l] = code - 1
		}
		if code > 1<<l {
			return fmt.Errorf("%w: Huffman table over-subscribed at length %d", ErrCorrupt, l)
		}
		code <<= 1
	}
	return nil
}

// fill tops the bit buffer up to more than 56 bits. Past the end of the entropy-coded
// segment (a marker, or the end of the file) it shifts in zeros and counts them as
// padding: consuming padding means the data ran out.
func (d *decoder) fill() {
	for d.nb <= 56 {
		var b byte
		if d.pos < len(d.data) && (d.data[d.pos] != 0xFF) {
			b = d.data[d.pos]
			d.pos++
		} else if d.pos+1 < len(d.data) && d.data[d.pos+1] == 0x00 {
			b = 0xFF
			d.pos += 2
		} else {
			d.pad += 8
		}
		d.acc |= uint64(b) << (56 - d.nb)
		d.nb += 8
	}
}

// overrun reports whether bits past the end of the segment have been consumed.
func (d *decoder) overrun() bool { return d.nb < d.pad }

// decodeHuffman reads one symbol.
func (d *decoder) decodeHuffman(h *huffman) (byte, error) {
	if d.nb < 16 {
		d.fill()
	}
	if e := h.lut[d.acc>>(64-lutBits)]; e != 0 {
		l := uint(e >> 8)
		d.acc <<= l
		d.nb -= l
		return byte(e), nil
	}
	code := int32(d.acc >> (64 - 16))
	for l := lutBits + 1; l <= 16; l++ {
		c := code >> (16 - l)
		if c <= h.maxcode[l] {
			d.acc <<= uint(l)
			d.nb -= uint(l)
			return h.vals[h.valptr[l]+c], nil
		}
	}
	return 0, fmt.Errorf("%w: bad Huffman code", ErrCorrupt)
}

// bits reads n (0..16) raw bits.
func (d *decoder) bits(n uint) int32 {
	if n == 0 {
		return 0
	}
	if d.nb < n {
		d.fill()
	}
	v := int32(d.acc >> (64 - n))
	d.acc <<= n
	d.nb -= n
	return v
}

// receiveExtend reads an n-bit magnitude category value and sign-extends it (F.2.2.1).
func (d *decoder) receiveExtend(n uint) int32 {
	if n == 0 {
		return 0
	}
	v := d.bits(n)
	if v < 1<<(n-1) {
		v += -1<<n + 1
	}
	return v
}

// resetBits drops what is buffered, at a restart marker or the end of a scan.
func (d *decoder) resetBits() {
	// Bytes pulled into the buffer but not consumed belong to the segment just ended
	// (its last byte's padding bits), never to what follows the marker: fill stops at
	// a marker and pads instead.
	d.acc, d.nb, d.pad = 0, 0, 0
}
