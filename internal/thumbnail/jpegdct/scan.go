package jpegdct

import (
	"fmt"
)

// scan is one SOS header.
type scan struct {
	comps  []*component
	ss, se int // spectral selection, zigzag indices
	ah, al uint
}

// decodeScans decodes every scan up to EOI, then (progressive) runs the inverse DCT.
func (d *decoder) decodeScans() error {
	need := d.neededBands()
	for scanIndex := 0; ; scanIndex++ {
		m, seg, err := d.nextSegment()
		if err != nil {
			return err
		}
		switch m {
		case 0xD9:
			if d.progressive {
				d.finishProgressive()
			}
			return nil
		case 0xDA:
			s, err := d.readSOS(seg)
			if err != nil {
				return err
			}
			if d.progressive && s.ss > 0 && s.ss > need[s.comps[0]] {
				// AC coefficients none of which the output uses, and no later
				// refinement of a used one needs to know where they are nonzero.
				d.skipEntropyData()
				continue
			}
			if err := d.decodeScan(s); err != nil {
				return fmt.Errorf("scan %d: %w", scanIndex+1, err)
			}
			d.skipEntropyData()
		default:
			if err := d.tableOrFrame(m, seg); err != nil {
				return err
			}
		}
	}
}

// neededBands is, per component, the highest zigzag index a scan must reach to be
// decoded: the kept coefficients, extended to the whole band of any successive-
// approximation refinement scan that touches them (refining needs to know which
// coefficients of the band are already nonzero). It reads the scan headers ahead.
func (d *decoder) neededBands() map[*component]int {
	need := map[*component]int{}
	if !d.progressive {
		return need
	}
	for i := range d.comps {
		need[&d.comps[i]] = d.k - 1
	}
	var scans []scan
	saved := d.pos
	for {
		m, seg, err := d.nextSegment()
		if err != nil || m == 0xD9 {
			break
		}
		if m != 0xDA {
			continue
		}
		s, err := d.readSOS(seg)
		if err != nil {
			break
		}
		scans = append(scans, s)
		d.skipEntropyData()
	}
	d.pos = saved
	for changed := true; changed; {
		changed = false
		for _, s := range scans {
			c := s.comps[0]
			if s.ss > 0 && s.ah > 0 && s.ss <= need[c] && s.se > need[c] {
				need[c], changed = s.se, true
			}
		}
	}
	return need
}

// skipEntropyData moves d.pos to the next marker that is not a restart marker.
func (d *decoder) skipEntropyData() {
	d.resetBits()
	for d.pos+1 < len(d.data) {
		if d.data[d.pos] == 0xFF {
			if m := d.data[d.pos+1]; m != 0x00 && m != 0xFF && (m < 0xD0 || m > 0xD7) {
				return
			}
		}
		d.pos++
	}
	d.pos = len(d.data)
}

func (d *decoder) readSOS(seg []byte) (scan, error) {
	if len(seg) < 1 {
		return scan{}, fmt.Errorf("%w: empty scan header", ErrCorrupt)
	}
	n := int(seg[0])
	if n < 1 || n > 4 || len(seg) != 4+2*n {
		return scan{}, fmt.Errorf("%w: scan header of %d bytes for %d components", ErrCorrupt, len(seg), n)
	}
	var s scan
	for i := range n {
		id, tables := seg[1+2*i], seg[2+2*i]
		var c *component
		for j := range d.comps {
			if d.comps[j].id == id {
				c = &d.comps[j]
			}
		}
		if c == nil {
			return scan{}, fmt.Errorf("%w: scan names unknown component %d", ErrCorrupt, id)
		}
		c.td, c.ta = int(tables>>4), int(tables&15)
		if c.td > 3 || c.ta > 3 {
			return scan{}, fmt.Errorf("%w: Huffman table ids %d/%d", ErrCorrupt, c.td, c.ta)
		}
		s.comps = append(s.comps, c)
	}
	p := seg[1+2*n:]
	s.ss, s.se, s.ah, s.al = int(p[0]), int(p[1]), uint(p[2]>>4), uint(p[2]&15)
	if d.progressive {
		if s.ss > s.se || s.se > 63 || (s.ss == 0 && s.se != 0) || (s.ss > 0 && n != 1) || s.al > 13 {
			return scan{}, fmt.Errorf("%w: progressive scan Ss=%d Se=%d Ah=%d Al=%d over %d components", ErrCorrupt, s.ss, s.se, s.ah, s.al, n)
		}
	} else {
		s.ss, s.se = 0, 63
	}
	if n > 1 {
		blocks := 0
		for _, c := range s.comps {
			blocks += c.h * c.v
		}
		if blocks > 10 {
			return scan{}, fmt.Errorf("%w: %d blocks per MCU", ErrCorrupt, blocks)
		}
	}
	return s, nil
}

// decodeScan decodes the entropy-coded data of s, starting at d.pos.
func (d *decoder) decodeScan(s scan) error {
	for _, c := range s.comps {
		if !d.qset[c.tq] {
			return fmt.Errorf("%w: quantisation table %d is missing", ErrCorrupt, c.tq)
		}
		dcNeeded := s.ss == 0 && s.ah == 0
		acNeeded := s.se > 0
		if dcNeeded && !d.dc[c.td].defined || acNeeded && !d.ac[c.ta].defined {
			return fmt.Errorf("%w: Huffman table missing", ErrCorrupt)
		}
		c.pred = 0
	}
	d.resetBits()
	d.eobrun = 0
	// Units: an interleaved scan goes MCU by MCU; a single-component scan block by
	// block over the component's own extent.
	var ux, uy int
	if len(s.comps) == 1 {
		ux, uy = s.comps[0].cw, s.comps[0].ch
	} else {
		ux, uy = d.mcux, d.mcuy
	}
	var block [64]int32
	units, restarts := 0, 0
	for my := range uy {
		for mx := range ux {
			if d.ri > 0 && units > 0 && units%d.ri == 0 {
				if err := d.restart(restarts); err != nil {
					return err
				}
				restarts++
				for _, c := range s.comps {
					c.pred = 0
				}
				d.eobrun = 0
			}
			units++
			for _, c := range s.comps {
				bx0, by0, bw, bh := mx, my, 1, 1
				if len(s.comps) > 1 {
					bx0, by0, bw, bh = mx*c.h, my*c.v, c.h, c.v
				}
				for by := by0; by < by0+bh; by++ {
					for bx := bx0; bx < bx0+bw; bx++ {
						var err error
						if d.progressive {
							err = d.progressiveBlock(s, c, by*c.bw+bx)
						} else {
							err = d.baselineBlock(c, &block, bx, by)
						}
						if err != nil {
							return err
						}
					}
				}
			}
			if d.overrun() {
				return fmt.Errorf("%w: %w: the image data ends before block row %d of %d", ErrCorrupt, ErrTruncated, my+1, uy)
			}
		}
	}
	return nil
}

// restart expects the n-th restart marker (mod 8) after the current interval.
func (d *decoder) restart(n int) error {
	if d.overrun() {
		return fmt.Errorf("%w: %w restart interval", ErrCorrupt, ErrTruncated)
	}
	d.resetBits()
	for d.pos+1 < len(d.data) && !(d.data[d.pos] == 0xFF && d.data[d.pos+1] != 0x00 && d.data[d.pos+1] != 0xFF) {
		d.pos++
	}
	if d.pos+1 >= len(d.data) {
		return fmt.Errorf("%w: %w: the file ends inside the image data", ErrCorrupt, ErrTruncated)
	}
	if want := byte(0xD0 + n%8); d.data[d.pos+1] != want {
		return fmt.Errorf("%w: restart marker 0x%02X where 0x%02X was due", ErrCorrupt, d.data[d.pos+1], want)
	}
	d.pos += 2
	return nil
}

// baselineBlock decodes one block of a sequential scan and writes its n×n samples.
func (d *decoder) baselineBlock(c *component, block *[64]int32, bx, by int) error {
	n := d.n
	t, err := d.decodeHuffman(&d.dc[c.td])
	if err != nil {
		return err
	}
	if t > 11 {
		return fmt.Errorf("%w: DC category %d", ErrCorrupt, t)
	}
	c.pred += d.receiveExtend(uint(t))
	q := &d.q[c.tq]
	block[0] = c.pred * q[0]
	ac := &d.ac[c.ta]
	dcOnly := n == 1
	if !dcOnly {
		clear(block[1:])
	}
	for k := 1; k < 64; k++ {
		r, s, err := d.runSize(ac)
		if err != nil {
			return err
		}
		if s == 0 {
			if r != 15 {
				break
			}
			k += 15
			continue
		}
		k += r
		if dcOnly {
			// Only the DC term is used: read past the AC values without placing them.
			d.acc <<= s
			d.nb -= s
			continue
		}
		v := d.receiveExtend(s)
		if k < 64 {
			nat := unzig[k]
			block[nat] = v * q[nat]
		}
	}
	if dcOnly {
		d.idct1(c, block[0], bx, by)
		return nil
	}
	d.idct(c, block, bx, by)
	return nil
}

// progressiveBlock decodes one block's share of a progressive scan into the
// coefficient store (G.1.2).
func (d *decoder) progressiveBlock(s scan, c *component, b int) error {
	coef := c.coef[b*d.k : (b+1)*d.k]
	if s.ss == 0 { // DC
		if s.ah == 0 {
			t, err := d.decodeHuffman(&d.dc[c.td])
			if err != nil {
				return err
			}
			if t > 11 {
				return fmt.Errorf("%w: DC category %d", ErrCorrupt, t)
			}
			c.pred += d.receiveExtend(uint(t))
			coef[0] = int16(c.pred << s.al)
		} else if d.bits(1) != 0 {
			coef[0] |= 1 << s.al
		}
		return nil
	}
	ac := &d.ac[c.ta]
	if s.ah == 0 { // first AC pass
		if d.eobrun > 0 {
			d.eobrun--
			return nil
		}
		for k := s.ss; k <= s.se; k++ {
			r, sz, err := d.runSize(ac)
			if err != nil {
				return err
			}
			if sz == 0 {
				if r != 15 {
					d.eobrun = 1<<r - 1
					if r > 0 {
						d.eobrun += int(d.bits(uint(r)))
					}
					break
				}
				k += 15
				continue
			}
			k += r
			if k > 63 {
				return fmt.Errorf("%w: coefficient index past 63", ErrCorrupt)
			}
			v := d.receiveExtend(sz) << s.al
			c.nz[b] |= 1 << k
			if k < d.k {
				coef[k] = int16(v)
			}
		}
		return nil
	}
	return d.refineAC(s, c, b, coef, ac)
}

// refineAC is a successive-approximation AC refinement pass over one block (G.1.2.3):
// correction bits for coefficients already nonzero, new coefficients of ±1<<Al.
func (d *decoder) refineAC(s scan, c *component, b int, coef []int16, ac *huffman) error {
	p1, m1 := int16(1)<<s.al, int16(-1)<<s.al
	nz := &c.nz[b]
	correct := func(k int) {
		if d.bits(1) != 0 && k < d.k && coef[k]&p1 == 0 {
			if coef[k] >= 0 {
				coef[k] += p1
			} else {
				coef[k] += m1
			}
		}
	}
	k := s.ss
	if d.eobrun == 0 {
		for ; k <= s.se; k++ {
			r, sz, err := d.runSize(ac)
			if err != nil {
				return err
			}
			var v int16
			if sz != 0 {
				if sz != 1 {
					return fmt.Errorf("%w: refinement coefficient of size %d", ErrCorrupt, sz)
				}
				v = m1
				if d.bits(1) != 0 {
					v = p1
				}
			} else if r != 15 {
				d.eobrun = 1 << r
				if r > 0 {
					d.eobrun += int(d.bits(uint(r)))
				}
				break
			}
			for k <= s.se {
				if *nz&(1<<k) != 0 {
					correct(k)
				} else {
					if r == 0 {
						break
					}
					r--
				}
				k++
			}
			if v != 0 {
				if k > 63 {
					return fmt.Errorf("%w: coefficient index past 63", ErrCorrupt)
				}
				*nz |= 1 << k
				if k < d.k {
					coef[k] = v
				}
			}
		}
	}
	if d.eobrun > 0 {
		for ; k <= s.se; k++ {
			if *nz&(1<<k) != 0 {
				correct(k)
			}
		}
		d.eobrun--
	}
	return nil
}

// runSize reads one AC symbol: the run of zero coefficients before the next one, and
// that one's size in bits (0 with a run of 15 is sixteen zeros; 0 otherwise ends the
// block or, in progressive scans, starts an end-of-band run).
func (d *decoder) runSize(ac *huffman) (int, uint, error) {
	if d.nb < 32 {
		d.fill()
	}
	rs, err := d.decodeHuffman(ac)
	return int(rs >> 4), uint(rs & 15), err
}

// finishProgressive dequantises the kept coefficients and writes every block.
func (d *decoder) finishProgressive() {
	var block [64]int32
	for i := range d.comps {
		c := &d.comps[i]
		q := &d.q[c.tq]
		for by := range c.bh {
			for bx := range c.bw {
				coef := c.coef[(by*c.bw+bx)*d.k:][:d.k]
				if d.n == 1 {
					d.idct1(c, int32(coef[0])*q[0], bx, by)
					continue
				}
				clear(block[:])
				for k, v := range coef {
					nat := unzig[k]
					block[nat] = int32(v) * q[nat]
				}
				d.idct(c, &block, bx, by)
			}
		}
	}
}
