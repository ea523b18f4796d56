package jpegdct

import "math"

// idctBits is the fixed-point precision of the cosine tables.
const idctBits = 13

// idctTables[n][x*n+u] is C(u)·cos((2x+1)uπ/2n)·2^idctBits, C(0) = 1/√2, C(u>0) = 1:
// the n-point inverse DCT's basis. With the 8-point transform's 1/4 normalisation kept
// for every n, a block of only a DC term gives F(0,0)/8 at any size (its mean), and the
// n lowest frequencies of each axis are resynthesised on n samples: the block's
// content, low-passed and decimated by 8/n.
var idctTables = func() (t [9][]int) {
	for _, n := range []int{2, 4, 8} {
		t[n] = make([]int, n*n)
		for x := range n {
			for u := range n {
				c := 1.0
				if u == 0 {
					c = 1 / math.Sqrt2
				}
				t[n][x*n+u] = int(math.Round(c * math.Cos(float64((2*x+1)*u)*math.Pi/float64(2*n)) * (1 << idctBits)))
			}
		}
	}
	return t
}()

// clamp8 turns a level-shifted sample into a byte.
func clamp8(v int) byte {
	if uint(v) <= 255 {
		return byte(v)
	}
	if v < 0 {
		return 0
	}
	return 255
}

// idct1 writes the one sample of a block reduced by 8: its DC term's mean.
func (d *decoder) idct1(c *component, dc int32, bx, by int) {
	c.pix[by*c.stride+bx] = clamp8((int(dc)+4)>>3 + 128)
}

// idct runs the n-point inverse DCT (n = d.n: 2, 4 or 8) of the dequantised block,
// reading only its n×n lowest frequencies, and writes n×n samples of c's plane.
func (d *decoder) idct(c *component, blk *[64]int32, bx, by int) {
	n := d.n
	dst := c.pix[by*n*c.stride+bx*n:]
	ac := false
	for v := range n {
		for u := range n {
			if (u|v) != 0 && blk[v*8+u] != 0 {
				ac = true
			}
		}
	}
	if !ac {
		s := clamp8((int(blk[0])+4)>>3 + 128)
		for y := range n {
			row := dst[y*c.stride : y*c.stride+n]
			for x := range row {
				row[x] = s
			}
		}
		return
	}
	t := idctTables[n]
	var tmp [64]int // tmp[v*n+x]: row v of coefficients synthesised at column x
	for v := range n {
		row := blk[v*8 : v*8+n]
		zero := true
		for _, f := range row {
			if f != 0 {
				zero = false
				break
			}
		}
		if zero {
			continue
		}
		for x := range n {
			b := t[x*n : x*n+n]
			s := 0
			for u, f := range row {
				s += int(f) * b[u]
			}
			tmp[v*n+x] = s
		}
	}
	const shift = 2*idctBits + 2 // both tables' scale, and the 1/4
	for y := range n {
		b := t[y*n : y*n+n]
		out := dst[y*c.stride : y*c.stride+n]
		for x := range out {
			s := 0
			for v := range n {
				s += tmp[v*n+x] * b[v]
			}
			out[x] = clamp8((s+1<<(shift-1))>>shift + 128)
		}
	}
}
