package jpegdct

import "math"

// idctBits is the fixed-point precision of the cosine tables.
const idctBits = 13

// idctTables[n][x*8+u] is C(u)·mean over j < 8/n of cos((2(8x/n+j)+1)uπ/16)·2^idctBits,
// C(0) = 1/√2, C(u>0) = 1: the 8-point inverse DCT's basis averaged over runs of 8/n
// samples. With the 8-point transform's 1/4 normalisation, an n-sample output is
// exactly the mean of each run of the full-size block (what libjpeg-turbo's reduced
// transforms compute, and at n = 1 the DC term over 8), so the reduction is a box
// filter of the decoded image, never an alias of it.
var idctTables = func() (t [9][]int) {
	for _, n := range []int{2, 4, 8} {
		k := 8 / n
		t[n] = make([]int, n*8)
		for x := range n {
			for u := range 8 {
				c := 1.0
				if u == 0 {
					c = 1 / math.Sqrt2
				}
				var sum float64
				for j := range k {
					sum += math.Cos(float64((2*(k*x+j)+1)*u) * math.Pi / 16)
				}
				t[n][x*8+u] = int(math.Round(c * sum / float64(k) * (1 << idctBits)))
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

// idct writes the n×n samples (n = d.n: 2, 4 or 8) of the dequantised block: the
// means of its full-size inverse DCT over runs of 8/n samples each way.
func (d *decoder) idct(c *component, blk *[64]int32, bx, by int) {
	n := d.n
	dst := c.pix[by*n*c.stride+bx*n:]
	ac := false
	for i := 1; i < 64; i++ {
		if blk[i] != 0 {
			ac = true
			break
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
	var tmp [64]int // tmp[v*n+x]: coefficient row v synthesised at output column x
	for v := range 8 {
		row := blk[v*8 : v*8+8]
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
			b := t[x*8 : x*8+8]
			s := 0
			for u, f := range row {
				s += int(f) * b[u]
			}
			tmp[v*n+x] = s
		}
	}
	const shift = 2*idctBits + 2 // both tables' scale, and the 1/4
	for y := range n {
		b := t[y*8 : y*8+8]
		out := dst[y*c.stride : y*c.stride+n]
		for x := range out {
			s := 0
			for v := range 8 {
				s += tmp[v*n+x] * b[v]
			}
			out[x] = clamp8((s+1<<(shift-1))>>shift + 128)
		}
	}
}
