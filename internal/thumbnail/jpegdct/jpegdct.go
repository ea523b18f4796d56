// Package jpegdct decodes baseline and progressive Huffman-coded JPEG images at 1/1,
// 1/2, 1/4 or 1/8 of their size in the DCT domain, as libjpeg's scaled decoding and
// libvips' shrink-on-load do: each 8×8 block of coefficients becomes N×N samples (N =
// 8/scale), the means of the full-size block's runs of 8/N samples computed straight
// from the coefficients (at 1/8, the DC term alone), so a 4000×3000 photo becomes a
// 500×375 image without a full-size pixel ever existing. At 1/8 progressive images
// keep one coefficient per block between scans, and the AC scans are skipped unread.
//
// What it does not decode (four-component CMYK/YCCK, RGB-coded files, unusual chroma
// layouts) it refuses with ErrUnsupported before allocating anything, so callers can
// fall back to image/jpeg; arithmetic coding, 12-bit samples and lossless JPEG are
// ErrUnsupported too (image/jpeg reads none of them either).
package jpegdct

import (
	"encoding/binary"
	"errors"
	"fmt"
	"image"
)

// Errors Decode returns. Both wrap a message saying what was found.
var (
	// ErrUnsupported: a valid JPEG this package does not decode.
	ErrUnsupported = errors.New("jpeg: unsupported by the scaled decoder")
	// ErrCorrupt: the bytes are not a well-formed JPEG (truncated, bad tables, data
	// that does not decode).
	ErrCorrupt = errors.New("jpeg: corrupt")
	// ErrTruncated: the bytes end before the image does (it wraps ErrCorrupt too).
	ErrTruncated = errors.New("truncated")
)

// Info is what the frame header says, read without decoding.
type Info struct {
	// Width and Height are the stored dimensions.
	Width, Height int
	// Progressive is set for progressive (SOF2) files.
	Progressive bool
	// Components is 1 (gray) or 3 (YCbCr).
	Components int
	// Ratio is the chroma subsampling of a three-component image.
	Ratio image.YCbCrSubsampleRatio
	// blocks is the number of 8×8 blocks of every component, MCU padding included.
	blocks int64
	// planeBlocks per component, for DecodeBytes.
	planeBlocks [3]int64
}

// ScaledSize is the size of the image decoded at 1/scale.
func (in Info) ScaledSize(scale int) (w, h int) {
	n := 8 / scale
	return (in.Width*n + 7) / 8, (in.Height*n + 7) / 8
}

// DecodeBytes is what Decode at 1/scale allocates: the sample planes, padded to whole
// MCUs, and for progressive files the coefficients kept between scans (2 bytes for each
// kept coefficient and 8 for each block's nonzero mask), plus the Huffman tables.
func (in Info) DecodeBytes(scale int) int64 {
	n := int64(8 / scale)
	var b int64
	for _, pb := range in.planeBlocks[:in.Components] {
		b += pb * n * n
	}
	if in.Progressive {
		b += in.blocks * (2*int64(keptCoefficients(int(n))) + 8)
	}
	return b + 8*(1<<10) // Huffman lookup tables
}

// Scale picks the largest of 8, 4, 2, 1 by which the image can be reduced and still be
// at least minW wide and minH tall (displayed orientation is the caller's business).
func Scale(w, h, minW, minH int) int {
	for _, s := range []int{8, 4, 2} {
		if (w+s-1)/s >= minW && (h+s-1)/s >= minH {
			return s
		}
	}
	return 1
}

// Inspect parses the markers up to the first scan and returns the frame's Info, or
// ErrUnsupported / ErrCorrupt. b need only hold the header.
func Inspect(b []byte) (Info, error) {
	d := &decoder{data: b}
	if err := d.readHeaders(); err != nil {
		return Info{}, err
	}
	return d.info()
}

// Decode decodes the whole JPEG in b at 1/scale (scale 1, 2, 4 or 8). The result is an
// *image.Gray or an *image.YCbCr of Info.ScaledSize(scale) pixels.
func Decode(b []byte, scale int) (image.Image, error) {
	switch scale {
	case 1, 2, 4, 8:
	default:
		return nil, fmt.Errorf("jpeg: scale 1/%d (want 1, 2, 4 or 8)", scale)
	}
	d := &decoder{data: b, n: 8 / scale}
	d.k = keptCoefficients(d.n)
	if err := d.readHeaders(); err != nil {
		return nil, err
	}
	if _, err := d.info(); err != nil {
		return nil, err
	}
	d.allocate()
	if err := d.decodeScans(); err != nil {
		return nil, err
	}
	return d.image(), nil
}

// component is one colour channel of the frame.
type component struct {
	id     byte
	h, v   int // sampling factors
	tq     int // quantisation table
	td, ta int // Huffman tables of the current scan
	// bw, bh are the blocks across and down, padded to whole MCUs; cw, ch the blocks a
	// non-interleaved scan covers (the component's own size).
	bw, bh, cw, ch int
	pix            []byte // the plane: bw*n × bh*n samples
	stride         int
	coef           []int16  // progressive: k coefficients per block, zigzag order
	nz             []uint64 // progressive: which coefficients of each block are nonzero
	pred           int32    // DC predictor
}

type decoder struct {
	data []byte
	pos  int
	n    int // samples per block side in the output
	k    int // zigzag coefficients kept per block

	width, height int
	progressive   bool
	sof           bool
	comps         []component
	hmax, vmax    int
	mcux, mcuy    int
	q             [4][64]int32 // natural order
	qset          [4]bool
	dc, ac        [4]huffman
	ri            int // restart interval in MCUs
	adobe         bool
	adobeXform    byte
	eobrun        int

	// The bit reader: acc holds nb bits, most significant first; pad of them are zeros
	// inserted past the end of the entropy-coded data.
	acc     uint64
	nb, pad uint
}

// readHeaders reads markers from SOI to the first SOS (not consumed).
func (d *decoder) readHeaders() error {
	if len(d.data) < 2 || d.data[0] != 0xFF || d.data[1] != 0xD8 {
		return fmt.Errorf("%w: no start-of-image marker", ErrCorrupt)
	}
	d.pos = 2
	for {
		for d.pos+2 <= len(d.data) && d.data[d.pos] == 0xFF && d.data[d.pos+1] == 0xFF {
			d.pos++ // fill bytes
		}
		if d.pos+2 <= len(d.data) && d.data[d.pos] == 0xFF && d.data[d.pos+1] == 0xDA {
			if !d.sof {
				return fmt.Errorf("%w: scan before frame header", ErrCorrupt)
			}
			return nil // the scans are decodeScans' business
		}
		m, seg, err := d.nextSegment()
		if err != nil {
			return err
		}
		if m == 0xD9 {
			return fmt.Errorf("%w: no image before the end-of-image marker", ErrCorrupt)
		}
		if err := d.tableOrFrame(m, seg); err != nil {
			return err
		}
	}
}

// nextSegment reads the marker at d.pos and its payload.
func (d *decoder) nextSegment() (byte, []byte, error) {
	for {
		if d.pos+2 > len(d.data) {
			return 0, nil, fmt.Errorf("%w: %w: the file ends between markers", ErrCorrupt, ErrTruncated)
		}
		if d.data[d.pos] != 0xFF {
			return 0, nil, fmt.Errorf("%w: expected a marker at byte %d", ErrCorrupt, d.pos)
		}
		m := d.data[d.pos+1]
		switch {
		case m == 0xFF: // fill byte
			d.pos++
			continue
		case m == 0xD8:
			return 0, nil, fmt.Errorf("%w: a second start-of-image marker", ErrCorrupt)
		case m == 0xD9:
			d.pos += 2
			return m, nil, nil
		case m == 0x01 || (m >= 0xD0 && m <= 0xD7):
			d.pos += 2
			continue
		}
		if d.pos+4 > len(d.data) {
			return 0, nil, fmt.Errorf("%w: %w marker", ErrCorrupt, ErrTruncated)
		}
		n := int(binary.BigEndian.Uint16(d.data[d.pos+2:]))
		if n < 2 || d.pos+2+n > len(d.data) {
			return 0, nil, fmt.Errorf("%w: %w: segment 0x%02X of %d bytes at byte %d runs past the end", ErrCorrupt, ErrTruncated, m, n, d.pos)
		}
		seg := d.data[d.pos+4 : d.pos+2+n]
		d.pos += 2 + n
		return m, seg, nil
	}
}

// tableOrFrame handles every marker segment but SOS and EOI.
func (d *decoder) tableOrFrame(m byte, seg []byte) error {
	switch {
	case m == 0xC0 || m == 0xC1 || m == 0xC2:
		if d.sof {
			return fmt.Errorf("%w: two frame headers", ErrCorrupt)
		}
		d.progressive = m == 0xC2
		return d.readSOF(seg)
	case m == 0xC3 || (m >= 0xC5 && m <= 0xC7) || (m >= 0xC9 && m <= 0xCB) || (m >= 0xCD && m <= 0xCF):
		return fmt.Errorf("%w: lossless, hierarchical or arithmetic-coded JPEG (SOF%d)", ErrUnsupported, m-0xC0)
	case m == 0xC4:
		return d.readDHT(seg)
	case m == 0xDB:
		return d.readDQT(seg)
	case m == 0xDD:
		if len(seg) != 2 {
			return fmt.Errorf("%w: restart interval segment of %d bytes", ErrCorrupt, len(seg))
		}
		d.ri = int(binary.BigEndian.Uint16(seg))
	case m == 0xEE:
		if len(seg) >= 12 && string(seg[:5]) == "Adobe" {
			d.adobe, d.adobeXform = true, seg[11]
		}
	case m == 0xDC:
		return fmt.Errorf("%w: DNL marker", ErrUnsupported)
	}
	return nil // APPn, COM and the rest carry nothing the decoder needs
}

func (d *decoder) readSOF(seg []byte) error {
	if len(seg) < 6 {
		return fmt.Errorf("%w: short frame header", ErrCorrupt)
	}
	if seg[0] != 8 {
		return fmt.Errorf("%w: %d-bit samples", ErrUnsupported, seg[0])
	}
	d.height = int(binary.BigEndian.Uint16(seg[1:]))
	d.width = int(binary.BigEndian.Uint16(seg[3:]))
	nc := int(seg[5])
	if d.width == 0 || d.height == 0 {
		return fmt.Errorf("%w: %d×%d pixels", ErrCorrupt, d.width, d.height)
	}
	if nc != 1 && nc != 3 && nc != 4 {
		return fmt.Errorf("%w: %d components", ErrCorrupt, nc)
	}
	if len(seg) != 6+3*nc {
		return fmt.Errorf("%w: frame header of %d bytes for %d components", ErrCorrupt, len(seg), nc)
	}
	d.comps = make([]component, nc)
	d.hmax, d.vmax = 1, 1
	for i := range d.comps {
		c := &d.comps[i]
		c.id = seg[6+3*i]
		c.h, c.v = int(seg[7+3*i]>>4), int(seg[7+3*i]&15)
		c.tq = int(seg[8+3*i])
		if c.h < 1 || c.h > 4 || c.v < 1 || c.v > 4 || c.tq > 3 {
			return fmt.Errorf("%w: component %d has sampling %d×%d, table %d", ErrCorrupt, i, c.h, c.v, c.tq)
		}
		for _, o := range d.comps[:i] {
			if o.id == c.id {
				return fmt.Errorf("%w: two components with id %d", ErrCorrupt, c.id)
			}
		}
		d.hmax, d.vmax = max(d.hmax, c.h), max(d.vmax, c.v)
	}
	if nc == 1 {
		// A lone component is coded one block per MCU whatever its factors say.
		d.comps[0].h, d.comps[0].v, d.hmax, d.vmax = 1, 1, 1, 1
	}
	d.mcux = (d.width + 8*d.hmax - 1) / (8 * d.hmax)
	d.mcuy = (d.height + 8*d.vmax - 1) / (8 * d.vmax)
	for i := range d.comps {
		c := &d.comps[i]
		c.bw, c.bh = d.mcux*c.h, d.mcuy*c.v
		c.cw = ((d.width*c.h+d.hmax-1)/d.hmax + 7) / 8
		c.ch = ((d.height*c.v+d.vmax-1)/d.vmax + 7) / 8
	}
	d.sof = true
	return nil
}

// info checks that the frame is one this package decodes.
func (d *decoder) info() (Info, error) {
	in := Info{Width: d.width, Height: d.height, Progressive: d.progressive, Components: len(d.comps)}
	switch len(d.comps) {
	case 4:
		return in, fmt.Errorf("%w: four components (CMYK or YCCK)", ErrUnsupported)
	case 3:
		if d.adobe && d.adobeXform == 0 || !d.adobe && d.comps[0].id == 'R' && d.comps[1].id == 'G' && d.comps[2].id == 'B' {
			return in, fmt.Errorf("%w: RGB-coded", ErrUnsupported)
		}
		if d.comps[1].h != 1 || d.comps[1].v != 1 || d.comps[2].h != 1 || d.comps[2].v != 1 {
			return in, fmt.Errorf("%w: chroma sampled %d×%d and %d×%d", ErrUnsupported, d.comps[1].h, d.comps[1].v, d.comps[2].h, d.comps[2].v)
		}
		r, ok := ratios[[2]int{d.comps[0].h, d.comps[0].v}]
		if !ok {
			return in, fmt.Errorf("%w: luma sampled %d×%d", ErrUnsupported, d.comps[0].h, d.comps[0].v)
		}
		in.Ratio = r
	}
	for i, c := range d.comps {
		in.planeBlocks[i] = int64(c.bw) * int64(c.bh)
		in.blocks += in.planeBlocks[i]
	}
	return in, nil
}

// ratios maps the luma sampling factors (chroma 1×1) to Go's subsample ratios.
var ratios = map[[2]int]image.YCbCrSubsampleRatio{
	{1, 1}: image.YCbCrSubsampleRatio444, {2, 1}: image.YCbCrSubsampleRatio422,
	{2, 2}: image.YCbCrSubsampleRatio420, {1, 2}: image.YCbCrSubsampleRatio440,
	{4, 1}: image.YCbCrSubsampleRatio411, {4, 2}: image.YCbCrSubsampleRatio410,
}

func (d *decoder) readDQT(seg []byte) error {
	for len(seg) > 0 {
		pq, tq := seg[0]>>4, int(seg[0]&15)
		if tq > 3 || pq > 1 {
			return fmt.Errorf("%w: quantisation table %d of precision %d", ErrCorrupt, tq, pq)
		}
		size := 64 << pq
		if len(seg) < 1+size {
			return fmt.Errorf("%w: short quantisation table", ErrCorrupt)
		}
		for k := range 64 {
			var v int32
			if pq == 0 {
				v = int32(seg[1+k])
			} else {
				v = int32(binary.BigEndian.Uint16(seg[1+2*k:]))
			}
			d.q[tq][unzig[k]] = v
		}
		d.qset[tq] = true
		seg = seg[1+size:]
	}
	return nil
}

func (d *decoder) readDHT(seg []byte) error {
	for len(seg) > 0 {
		if len(seg) < 17 {
			return fmt.Errorf("%w: short Huffman table", ErrCorrupt)
		}
		tc, th := seg[0]>>4, int(seg[0]&15)
		if tc > 1 || th > 3 {
			return fmt.Errorf("%w: Huffman table class %d id %d", ErrCorrupt, tc, th)
		}
		var counts [17]int
		total := 0
		for l := 1; l <= 16; l++ {
			counts[l] = int(seg[l])
			total += counts[l]
		}
		if total > 256 || len(seg) < 17+total {
			return fmt.Errorf("%w: Huffman table of %d codes", ErrCorrupt, total)
		}
		t := &d.dc[th]
		if tc == 1 {
			t = &d.ac[th]
		}
		if err := t.build(counts, seg[17:17+total]); err != nil {
			return err
		}
		seg = seg[17+total:]
	}
	return nil
}

// allocate makes the planes, and the coefficient stores of a progressive image.
func (d *decoder) allocate() {
	for i := range d.comps {
		c := &d.comps[i]
		c.stride = c.bw * d.n
		c.pix = make([]byte, c.stride*c.bh*d.n)
		if d.progressive {
			c.coef = make([]int16, c.bw*c.bh*d.k)
			c.nz = make([]uint64, c.bw*c.bh)
		}
	}
}

// image wraps the planes.
func (d *decoder) image() image.Image {
	w, h := (d.width*d.n+7)/8, (d.height*d.n+7)/8
	r := image.Rect(0, 0, w, h)
	if len(d.comps) == 1 {
		return &image.Gray{Pix: d.comps[0].pix, Stride: d.comps[0].stride, Rect: r}
	}
	return &image.YCbCr{
		Y: d.comps[0].pix, Cb: d.comps[1].pix, Cr: d.comps[2].pix,
		YStride: d.comps[0].stride, CStride: d.comps[1].stride,
		SubsampleRatio: ratios[[2]int{d.comps[0].h, d.comps[0].v}], Rect: r,
	}
}

// unzig maps a zigzag index to the natural (row-major) index of an 8×8 block, made by
// walking the anti-diagonals alternately up and down.
var unzig = func() (z [64]int) {
	i := 0
	for s := range 15 { // s = row + col
		for t := range s + 1 {
			r := t // going down-left on odd diagonals
			if s%2 == 0 {
				r = s - t // going up-right on even ones
			}
			c := s - r
			if r < 8 && c < 8 {
				z[i] = r*8 + c
				i++
			}
		}
	}
	return z
}()

// keptCoefficients is how many leading zigzag coefficients the n-sample reduction
// reads: the DC term alone at n = 1, every coefficient otherwise (each contributes to
// the means of runs of 8/n samples).
func keptCoefficients(n int) int {
	if n == 1 {
		return 1
	}
	return 64
}
