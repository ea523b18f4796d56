package thumbnail

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gen2brain/heic"
	"golang.org/x/image/webp"

	"github.com/serverless-architect/serverless-architect/internal/imagetest"
)

// rawPNG builds a PNG of the given IHDR fields and unfiltered rows (each row is given
// without its filter byte), with extra chunks before IDAT.
func rawPNG(t testing.TB, w, h, depth, colorType, interlace int, rows []byte, extra ...[]byte) []byte {
	t.Helper()
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	ihdr = append(ihdr, byte(depth), byte(colorType), 0, 0, byte(interlace))
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	if _, err := zw.Write(rows); err != nil {
		t.Fatal(err)
	}
	_ = zw.Close()
	out := append(append([]byte{}, pngSignature...), pngChunk("IHDR", ihdr)...)
	for _, c := range extra {
		out = append(out, c...)
	}
	out = append(out, pngChunk("IDAT", z.Bytes())...)
	return append(out, pngChunk("IEND", nil)...)
}

// interlacedPNG is an 8×8 gray Adam7 PNG: its seven passes hold 79 filter and sample
// bytes.
func interlacedPNG(t testing.TB) []byte {
	t.Helper()
	return rawPNG(t, 8, 8, 8, 0, 1, make([]byte, 79))
}

// TestShrinkPNGMatchesImagePNG: decoding row by row gives, for every colour type, bit
// depth and transparency a PNG can have, exactly the box shrink of image/png's image.
func TestShrinkPNGMatchesImagePNG(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const w, h = 37, 23
	fill := func(m interface{ Set(int, int, color.Color) }, c func() color.Color) {
		for y := range h {
			for x := range w {
				m.Set(x, y, c())
			}
		}
	}
	byteAt := func() uint8 { return uint8(rng.IntN(256)) }
	encode := func(m image.Image) []byte {
		var buf bytes.Buffer
		if err := png.Encode(&buf, m); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	inputs := map[string][]byte{}
	nrgba := image.NewNRGBA(image.Rect(0, 0, w, h))
	fill(nrgba, func() color.Color { return color.NRGBA{byteAt(), byteAt(), byteAt(), byteAt()} })
	inputs["rgba 8"] = encode(nrgba)
	rgb := image.NewRGBA(image.Rect(0, 0, w, h))
	fill(rgb, func() color.Color { return color.RGBA{byteAt(), byteAt(), byteAt(), 255} })
	inputs["rgb 8"] = encode(rgb)
	n64 := image.NewNRGBA64(image.Rect(0, 0, w, h))
	fill(n64, func() color.Color {
		return color.NRGBA64{uint16(rng.IntN(65536)), uint16(rng.IntN(65536)), uint16(rng.IntN(65536)), uint16(rng.IntN(65536))}
	})
	inputs["rgba 16"] = encode(n64)
	r64 := image.NewRGBA64(image.Rect(0, 0, w, h))
	fill(r64, func() color.Color {
		return color.RGBA64{uint16(rng.IntN(65536)), uint16(rng.IntN(65536)), uint16(rng.IntN(65536)), 0xFFFF}
	})
	inputs["rgb 16"] = encode(r64)
	gray := image.NewGray(image.Rect(0, 0, w, h))
	fill(gray, func() color.Color { return color.Gray{byteAt()} })
	inputs["gray 8"] = encode(gray)
	g16 := image.NewGray16(image.Rect(0, 0, w, h))
	fill(g16, func() color.Color { return color.Gray16{uint16(rng.IntN(65536))} })
	inputs["gray 16"] = encode(g16)
	for _, n := range []int{2, 4, 16, 256} { // 1-, 2-, 4- and 8-bit palettes
		pal := make(color.Palette, n)
		copy(pal, palette.Plan9[:n])
		pal[0] = color.NRGBA{10, 20, 30, 0} // a transparent entry: tRNS
		pal[1] = color.NRGBA{200, 100, 50, 128}
		pm := image.NewPaletted(image.Rect(0, 0, w, h), pal)
		for i := range pm.Pix {
			pm.Pix[i] = uint8(rng.IntN(n))
		}
		inputs[fmt.Sprintf("palette of %d", n)] = encode(pm)
	}
	// What Go's encoder does not write: gray with alpha, sub-byte gray, colour keys.
	ga := make([]byte, 0, h*(1+2*w))
	for range h {
		ga = append(ga, 0)
		for range 2 * w {
			ga = append(ga, byteAt())
		}
	}
	inputs["gray+alpha 8"] = rawPNG(t, w, h, 8, 4, 0, ga)
	for _, depth := range []int{1, 2, 4} {
		row := (w*depth + 7) / 8
		g := make([]byte, 0, h*(1+row))
		for range h {
			g = append(g, 0)
			for range row {
				g = append(g, byteAt())
			}
		}
		inputs[fmt.Sprintf("gray %d", depth)] = rawPNG(t, w, h, depth, 0, 0, g)
	}
	keyed := make([]byte, 0, h*(1+3*w))
	for y := range h {
		keyed = append(keyed, 0)
		for x := range w {
			if (x+y)%3 == 0 {
				keyed = append(keyed, 1, 2, 3) // the transparent colour
			} else {
				keyed = append(keyed, byteAt(), byteAt(), byteAt())
			}
		}
	}
	inputs["rgb 8 with a colour key"] = rawPNG(t, w, h, 8, 2, 0, keyed, pngChunk("tRNS", []byte{0, 1, 0, 2, 0, 3}))
	g8 := make([]byte, 0, h*(1+w))
	for range h {
		g8 = append(g8, 0)
		for range w {
			g8 = append(g8, byte(rng.IntN(16))) // often 7, the transparent grey
		}
	}
	inputs["gray 8 with a colour key"] = rawPNG(t, w, h, 8, 0, 0, g8, pngChunk("tRNS", []byte{0, 7}))
	for name, b := range inputs {
		for _, f := range []int{1, 2, 5, 40} {
			t.Run(fmt.Sprintf("%s/%d", name, f), func(t *testing.T) {
				m, err := png.Decode(bytes.NewReader(b))
				if err != nil {
					t.Fatal(err)
				}
				p, ok := readIHDR(b)
				if !ok || !p.streamable() {
					t.Fatal("not streamable")
				}
				got, err := shrinkPNG(b, p, f)
				if err != nil {
					t.Fatal(err)
				}
				want := shrinkGeneric(m, f)
				if got.Rect != want.Rect || !bytes.Equal(got.Pix, want.Pix) {
					t.Errorf("row-by-row shrink differs from image/png's image shrunk (%v vs %v)", got.Rect, want.Rect)
				}
			})
		}
	}
}

// TestSevenThousandSquarePNGStaysSmall: the one-colour 7000×7000 PNG of the memory
// probe (a few hundred KB that image/png turns into 147 MB of RGB) is reduced row by
// row, and Inspect budgets it at a few megabytes, which the job stays within.
func TestSevenThousandSquarePNGStaysSmall(t *testing.T) {
	b := onePixelColourPNG(t, 7000, 7000)
	Warm() // the service compiles the codecs at start, outside any job
	h, err := Inspect(b, DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	if h.DecodeBytes > 16<<20 {
		t.Errorf("budgeted %d bytes to decode (image/png would take 147 MB), want under 16 MiB", h.DecodeBytes)
	}
	peak := imagetest.HeapPeak(func() {
		res, err := Make(b, DefaultOptions)
		if err != nil || res.Renditions[0].Size != image.Pt(256, 256) {
			t.Errorf("Make: %v, %v", res.Renditions, err)
		}
	})
	if peak > h.DecodeBytes+int64(len(b)) {
		t.Errorf("heap peak %d bytes, over the %d budgeted", peak, h.DecodeBytes+int64(len(b)))
	}
}

// onePixelColourPNG is a w×h PNG of one opaque colour (it compresses to almost nothing).
func onePixelColourPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	row := make([]byte, 1+3*w)
	for x := range w {
		copy(row[1+3*x:], []byte{40, 120, 200})
	}
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestCompression)
	for range h {
		_, _ = zw.Write(row)
	}
	_ = zw.Close()
	ihdr := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(w)), uint32(h))
	ihdr = append(ihdr, 8, 2, 0, 0, 0)
	out := append(append([]byte{}, pngSignature...), pngChunk("IHDR", ihdr)...)
	out = append(out, pngChunk("IDAT", z.Bytes())...)
	return append(out, pngChunk("IEND", nil)...)
}

// TestStructure: what the walk over the whole file refuses, and what it lets through.
func TestStructure(t *testing.T) {
	jpg := encodeJPEG(t, imagetest.Photo(120, 90, 2), 0)
	pngb := encodePNG(t, imagetest.Photo(120, 90, 2), 0)
	gifb := encodeGIF(t, storedPicture(1))
	zip := zipOf(t, "payload.jar", "class Main {}")
	var bigMeta []byte
	for range 20 { // 20 comment segments of 60,000 bytes: 1.2 MB of metadata
		seg := []byte{0xFF, 0xFE, 0, 0}
		binary.BigEndian.PutUint16(seg[2:], 60002)
		bigMeta = append(bigMeta, append(seg, bytes.Repeat([]byte("x"), 60000)...)...)
	}
	metaJPEG := append(append(append([]byte{}, jpg[:2]...), bigMeta...), jpg[2:]...)
	twoFrames := func(n int) []byte { // a GIF of n frames
		g := bytes.TrimSuffix(gifb, []byte{0x3B})
		i := bytes.IndexByte(g[13+3*256:], 0x2C) // the first image descriptor (after the colour table and any extension)
		frame := g[13+3*256+i:]
		out := append([]byte{}, g...)
		for range n - 1 {
			out = append(out, frame...)
		}
		return append(out, 0x3B)
	}
	tests := []struct {
		name string
		data []byte
		want error  // nil: accepted
		msg  string // in the error
	}{
		{"jpeg", jpg, nil, ""},
		{"jpeg + zero padding", append(bytes.Clone(jpg), make([]byte, 300)...), nil, ""},
		{"jpeg + a second JPEG (MPF, gain map)", append(bytes.Clone(jpg), jpg...), nil, ""},
		{"jpeg + a motion photo's MP4", append(bytes.Clone(jpg), "\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"...), nil, ""},
		{"jpeg + Samsung's trailer", append(bytes.Clone(jpg), "\x00\x00SEFH\x01\x00\x00\x00data\x10\x00\x00\x00SEFT"...), nil, ""},
		{"jpeg + a ZIP (a JAR polyglot)", append(bytes.Clone(jpg), zip...), ErrNotImage, "also a ZIP archive"},
		{"jpeg + HTML", append(bytes.Clone(jpg), "\n<html><script>alert(1)</script></html>"...), ErrNotImage, "markup"},
		{"jpeg + stray bytes", append(bytes.Clone(jpg), "hello"...), ErrNotImage, "5 bytes of data follow the end of the jpeg image"},
		{"jpeg cut in the image data", jpg[:len(jpg)/2], ErrNotImage, "truncated"},
		{"jpeg without its end marker", jpg[:len(jpg)-2], ErrNotImage, "truncated"},
		{"jpeg with 1.2 MB of comments", metaJPEG, ErrTooLarge, "metadata"},
		{"png", pngb, nil, ""},
		{"png + data after IEND", append(bytes.Clone(pngb), "<?php system($_GET['c']); ?>"...), ErrNotImage, "a script"},
		{"png cut short", pngb[:len(pngb)-40], ErrNotImage, "truncated"},
		{"gif", gifb, nil, ""},
		{"gif of 5 frames", twoFrames(5), nil, ""},
		{"gif of 1,001 frames", twoFrames(1001), ErrTooLarge, "1001 frames"},
		{"gif + a ZIP (GIFAR)", append(bytes.Clone(gifb), zip...), ErrNotImage, "ZIP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Make(tt.data, DefaultOptions)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Make: %v, want a thumbnail", err)
				}
				return
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("Make: %v; want %v saying %q", err, tt.want, tt.msg)
			}
		})
	}
}

// zipOf is a one-file ZIP archive, stored (what a JAR or a ZIP polyglot appends).
func zipOf(t testing.TB, name, content string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = w.Write([]byte(content))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestHEIF: HEIC and AVIF files as heif-enc (libheif) writes them, decoded through the
// WebAssembly builds, with their thumbnail item used when it is big enough; and the
// transforms (irot, imir) applied as libheif applies them, which vips shows.
func TestHEIF(t *testing.T) {
	enc := imagetest.Tool(t, "heif-enc", "libheif-examples")
	if heic.Dynamic() == nil {
		t.Fatal("libheif was loaded from the system: production (static, -tags nodynamic) decodes with WebAssembly; run the tests with -tags nodynamic as make test does")
	}
	src := imagetest.Photo(640, 480, 5)
	for _, tc := range []struct {
		name string
		args []string
		f    Format
	}{
		{"heic", []string{"-q", "70", "-p", "preset=ultrafast"}, HEIC},
		{"avif", []string{"-A", "-q", "70", "-p", "speed=9"}, AVIF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := imagetest.Convert(t, enc, src, nil, ".png", "."+tc.name, append(tc.args, "-o", "OUT", "IN")...)
			h, err := Inspect(b, DefaultOptions)
			if err != nil {
				t.Fatal(err)
			}
			if h.Format != tc.f || h.Width != 640 || h.Height != 480 || h.Orientation != Normal || h.heifThumb != 0 {
				t.Errorf("header %+v", h)
			}
			m := thumbnailJPEG(t, b, DefaultOptions)
			if got := imagetest.SSIM(m, reference(src, 256, 192)); got < 0.9 {
				t.Errorf("SSIM against the source %.3f, want ≥ 0.9", got)
			}
			// With a 320-pixel thumbnail item, a 256-pixel thumbnail is made from it (an
			// AVIF's by dav1d), for less memory.
			withThumb := imagetest.Convert(t, enc, src, nil, ".png", "."+tc.name, append(tc.args, "-t", "320", "-o", "OUT", "IN")...)
			full, err := Inspect(b, DefaultOptions)
			if err != nil {
				t.Fatal(err)
			}
			h, err = Inspect(withThumb, DefaultOptions)
			if err != nil || h.heifThumb == 0 || h.DecodeBytes >= full.DecodeBytes {
				t.Errorf("with a thumbnail item: %+v, %v; want it planned, for less memory than %d bytes", h, err, full.DecodeBytes)
			}
			res, err := Make(withThumb, DefaultOptions)
			if err != nil || res.Renditions[0].Size != image.Pt(256, 192) {
				t.Fatalf("Make from the thumbnail item: %v, %v", res.Renditions, err)
			}
			if m, err = jpeg.Decode(bytes.NewReader(res.Renditions[0].JPEG)); err != nil {
				t.Fatal(err)
			}
			// A 320-pixel item, coded again, loses more detail than the full image: both
			// formats give about 0.84 here; a wrong or garbled picture gives near 0.
			if got := imagetest.SSIM(m, reference(src, 256, 192)); got < 0.8 {
				t.Errorf("from the thumbnail item: SSIM against the source %.3f, want ≥ 0.8", got)
			}
			// Truncated, or with data appended: refused.
			if _, err := Make(b[:len(b)*2/3], DefaultOptions); !errors.Is(err, ErrNotImage) || !strings.Contains(err.Error(), "truncated") {
				t.Errorf("truncated: %v", err)
			}
			if _, err := Make(append(bytes.Clone(b), "<script>x</script>"...), DefaultOptions); !errors.Is(err, ErrNotImage) {
				t.Errorf("with appended markup: %v", err)
			}
		})
	}
}

// reference is src reduced by image/draw's box-then-Lanczos path of this package, for
// quality comparisons.
func reference(src *image.RGBA, w, h int) image.Image {
	return resample(shrink(src, max(src.Rect.Dx()/(2*w), 1)), w, h, Normal)
}

// withTransforms returns the HEIF file b with property boxes added to ipco and
// associated, in order, with the primary item, and iloc's file offsets moved by the
// bytes the meta box grew: a file as a phone writes it when the picture is rotated or
// mirrored.
func withTransforms(t *testing.T, b []byte, props ...[]byte) []byte {
	t.Helper()
	top, err := boxes(b, 0)
	if err != nil {
		t.Fatal(err)
	}
	hf, err := parseHEIF(b)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(typ string, body []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(8+len(body))), append([]byte(typ), body...)...)
	}
	var out []byte
	for _, tb := range top {
		if tb.typ != "meta" {
			out = append(out, b[tb.start:tb.end]...)
			continue
		}
		children, err := boxes(tb.body[4:], 0)
		if err != nil {
			t.Fatal(err)
		}
		var grow int
		meta := append([]byte{}, tb.body[:4]...)
		var ilocAt int
		for _, c := range children {
			switch c.typ {
			case "iprp":
				ip, _ := boxes(c.body, 0)
				var body []byte
				var count int
				for _, p := range ip {
					if p.typ == "ipco" {
						ps, _ := boxes(p.body, 0)
						count = len(ps)
						nb := append([]byte{}, p.body...)
						for _, pr := range props {
							nb = append(nb, pr...)
						}
						body = append(body, mk("ipco", nb)...)
					}
				}
				for _, p := range ip {
					if p.typ != "ipma" {
						continue
					}
					v, flags, pb, _ := fullBox(p.body)
					if v != 0 || flags&1 != 0 {
						t.Fatalf("ipma version %d flags %d: not what heif-enc writes", v, flags)
					}
					n := binary.BigEndian.Uint32(pb)
					nb := append([]byte{}, p.body[:8]...)
					r := pb[4:]
					for range n {
						id := binary.BigEndian.Uint16(r)
						na := int(r[2])
						entry := append([]byte{}, r[:3+na]...)
						if uint32(id) == hf.primary {
							entry[2] = byte(na + len(props))
							for k := range props {
								entry = append(entry, 0x80|byte(count+1+k))
							}
						}
						nb = append(nb, entry...)
						r = r[3+na:]
					}
					body = append(body, mk("ipma", nb)...)
				}
				nc := mk("iprp", body)
				grow += len(nc) - int(c.end-c.start)
				meta = append(meta, nc...)
			case "iloc":
				ilocAt = len(meta)
				meta = append(meta, tb.body[4+c.start:4+c.end]...)
			default:
				meta = append(meta, tb.body[4+c.start:4+c.end]...)
			}
		}
		// Move iloc's absolute offsets (version 0 or 1, construction method 0).
		il := meta[ilocAt+8:]
		v := il[0]
		sizes := binary.BigEndian.Uint16(il[4:])
		offSize, lenSize, baseSize := int(sizes>>12), int(sizes>>8&15), int(sizes>>4&15)
		idxSize := 0
		if v > 0 {
			idxSize = int(sizes & 15)
		}
		p := 6
		count := int(binary.BigEndian.Uint16(il[p:]))
		p += 2
		add := func(at, size int) {
			switch size {
			case 4:
				binary.BigEndian.PutUint32(il[at:], binary.BigEndian.Uint32(il[at:])+uint32(grow))
			case 8:
				binary.BigEndian.PutUint64(il[at:], binary.BigEndian.Uint64(il[at:])+uint64(grow))
			}
		}
		for range count {
			p += 2 // item id
			method := 0
			if v > 0 {
				method = int(binary.BigEndian.Uint16(il[p:]) & 15)
				p += 2
			}
			p += 2 // data reference index
			if method == 0 && baseSize > 0 {
				add(p, baseSize)
			}
			p += baseSize
			ne := int(binary.BigEndian.Uint16(il[p:]))
			p += 2
			for range ne {
				p += idxSize
				if method == 0 && baseSize == 0 {
					add(p, offSize)
				}
				p += offSize + lenSize
			}
		}
		out = append(out, mk("meta", meta)...)
	}
	return out
}

// TestHEIFTransformsAsLibheif: irot and imir on the primary image, alone and together,
// give thumbnails oriented as vips (which libheif feeds, applying them) shows the same
// files: for HEIC, libheif applies them; for AVIF, the thumbnailer does.
func TestHEIFTransformsAsLibheif(t *testing.T) {
	enc := imagetest.Tool(t, "heif-enc", "libheif-examples")
	vips := imagetest.Tool(t, "vipsthumbnail", "libvips-tools")
	// The upright quadrant picture at 320×240 (gen2brain/heic garbles HEICs under
	// about 100 pixels wide, which no camera writes).
	src := image.NewRGBA(image.Rect(0, 0, 320, 240))
	for y := range 240 {
		for x := range 320 {
			src.Set(x, y, storedPicture(1).At(x/5, y/5))
		}
	}
	for _, f := range []struct {
		name string
		args []string
	}{{"heic", []string{"-q", "90", "-p", "preset=ultrafast"}}, {"avif", []string{"-A", "-q", "90", "-p", "speed=9"}}} {
		plain := imagetest.Convert(t, enc, src, nil, ".png", "."+f.name, append(f.args, "-o", "OUT", "IN")...)
		for _, tr := range []struct {
			name  string
			props [][]byte
		}{
			{"rotated 90", [][]byte{[]byte("\x00\x00\x00\x09irot\x01")}},
			{"rotated 180", [][]byte{[]byte("\x00\x00\x00\x09irot\x02")}},
			{"rotated 270", [][]byte{[]byte("\x00\x00\x00\x09irot\x03")}},
			{"mirrored about a vertical axis", [][]byte{[]byte("\x00\x00\x00\x09imir\x00")}},
			{"mirrored about a horizontal axis", [][]byte{[]byte("\x00\x00\x00\x09imir\x01")}},
			{"rotated 90 then mirrored", [][]byte{[]byte("\x00\x00\x00\x09irot\x01"), []byte("\x00\x00\x00\x09imir\x00")}},
			{"rotated 270 then mirrored", [][]byte{[]byte("\x00\x00\x00\x09irot\x03"), []byte("\x00\x00\x00\x09imir\x01")}},
		} {
			t.Run(f.name+"/"+tr.name, func(t *testing.T) {
				b := withTransforms(t, plain, tr.props...)
				ours := thumbnailJPEG(t, b, Options{Widths: []int{32}, Quality: 95, Limits: DefaultLimits, MaxAspect: 16})
				ref := imagetest.Convert(t, vips, nil, b, "."+f.name, ".png", "IN", "--size", "32x", "-o", "OUT")
				theirs, err := png.Decode(bytes.NewReader(ref))
				if err != nil {
					t.Fatal(err)
				}
				if ours.Bounds().Size() != theirs.Bounds().Size() {
					t.Fatalf("thumbnail %v, vips %v", ours.Bounds().Size(), theirs.Bounds().Size())
				}
				got, want := quadrants(ours), quadrants(theirs)
				for k := range got {
					if !near(got[k], want[k]) {
						t.Fatalf("quadrants %v, vips shows %v", got, want)
					}
				}
			})
		}
	}
}

// iccProfile is a minimal ICC profile header with a v2 'desc' tag saying desc.
func iccProfile(desc string) []byte {
	p := make([]byte, 132+12)
	copy(p[36:], "acsp")
	copy(p[16:], "RGB ")
	binary.BigEndian.PutUint32(p[128:], 1)
	tag := append([]byte("desc\x00\x00\x00\x00"), binary.BigEndian.AppendUint32(nil, uint32(len(desc)+1))...)
	tag = append(append(tag, desc...), 0)
	copy(p[132:], "desc")
	binary.BigEndian.PutUint32(p[136:], uint32(len(p)))
	binary.BigEndian.PutUint32(p[140:], uint32(len(tag)))
	p = append(p, tag...)
	binary.BigEndian.PutUint32(p, uint32(len(p)))
	return p
}

// TestICCProfileIsCarried: a profile other than sRGB (Display P3, as iPhones tag
// photos) is copied into the JPEG (APP2) and the WebP (ICCP) thumbnails; an sRGB one
// is not (untagged means sRGB).
func TestICCProfileIsCarried(t *testing.T) {
	for _, tc := range []struct {
		desc string
		want bool
	}{{"Display P3", true}, {"sRGB IEC61966-2.1", false}} {
		t.Run(tc.desc, func(t *testing.T) {
			icc := iccProfile(tc.desc)
			src := encodeJPEG(t, imagetest.Photo(400, 300, 6), 0)
			seg := append([]byte{0xFF, 0xE2, 0, 0}, "ICC_PROFILE\x00\x01\x01"...)
			binary.BigEndian.PutUint16(seg[2:], uint16(2+14+len(icc)))
			seg = append(seg, icc...)
			tagged := append(append(append([]byte{}, src[:2]...), seg...), src[2:]...)
			res, err := Make(tagged, DefaultOptions)
			if err != nil {
				t.Fatal(err)
			}
			r := res.Renditions[0]
			s, err := walkJPEG(r.JPEG)
			if err != nil {
				t.Fatal(err)
			}
			if got := bytes.Equal(s.icc, icc); got != tc.want {
				t.Errorf("JPEG thumbnail carries the profile: %v, want %v", got, tc.want)
			}
			if _, err := jpeg.Decode(bytes.NewReader(r.JPEG)); err != nil {
				t.Errorf("the tagged JPEG does not decode: %v", err)
			}
			if r.WebP == nil {
				t.Fatal("no WebP kept, so its tagging is untested: the photo should make a smaller WebP")
			}
			{
				ws, err := walkWebP(r.WebP)
				if err != nil {
					t.Fatal(err)
				}
				if got := bytes.Equal(ws.icc, icc); got != tc.want {
					t.Errorf("WebP thumbnail carries the profile: %v, want %v", got, tc.want)
				}
				if _, err := webp.DecodeConfig(bytes.NewReader(r.WebP)); err != nil {
					t.Errorf("the tagged WebP does not decode: %v", err)
				}
			}
		})
	}
}

// TestAVIFDav1dAsLibavif: an 8-bit AVIF goes the dav1d path (decodeAV1 takes it), and
// its thumbnail is the one the libavif (libaom) path makes of the same file, for 4:2:0
// and 4:4:4 chroma; an AVIF with an alpha plane is left to libavif and still
// thumbnailed. (Debian's heif-enc cannot write a 10-bit AVIF, libaom asserts: avifenc
// makes those for TestTenBitAsReferenceDecoders.)
func TestAVIFDav1dAsLibavif(t *testing.T) {
	enc := imagetest.Tool(t, "heif-enc", "libheif-examples")
	src := imagetest.Photo(640, 480, 7)
	for _, tc := range []struct {
		name  string
		args  []string
		dav1d bool
	}{
		{"4:2:0", nil, true},
		{"4:4:4", []string{"-p", "chroma=444"}, true},
		{"with alpha", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in image.Image = src
			if tc.name == "with alpha" {
				// Half transparent: heif-enc adds an alpha auxiliary image.
				in = image.NewNRGBA(src.Rect)
				draw.Draw(in.(*image.NRGBA), src.Rect, src, image.Point{}, draw.Src)
				draw.Draw(in.(*image.NRGBA), image.Rect(0, 0, 320, 480), image.NewUniform(color.NRGBA{A: 0}), image.Point{}, draw.Src)
			}
			b := imagetest.Convert(t, enc, in, nil, ".png", ".avif", append(tc.args, "-A", "-q", "80", "-p", "speed=9", "-o", "OUT", "IN")...)
			h, err := Inspect(b, DefaultOptions)
			if err != nil {
				t.Fatal(err)
			}
			// heif-enc writes an nclx: the reservation is the dav1d path's when it is taken.
			want := heifDecodeBytes(AVIF, 640, 480, 8)
			if tc.dav1d {
				want = h.heif.planesDecodeBytes(h.heif.primary, 640, 480)
			}
			if h.DecodeBytes-resampleBytes(256, 192) != want {
				t.Errorf("reserved %d bytes for the decode, want %d", h.DecodeBytes-resampleBytes(256, 192), want)
			}
			fast, ok, err := decodePlanes(h, b, DefaultOptions.Widths, DefaultLimits.MaxPixels)
			if err != nil || ok != tc.dav1d {
				t.Fatalf("decodePlanes: taken %v, %v; want taken %v", ok, err, tc.dav1d)
			}
			m, _, err := decode(h, b)
			if err != nil {
				t.Fatal(err)
			}
			slow := shrink(m, h.boxFactor(DefaultOptions.Widths, h.Width, h.Height))
			if tc.dav1d {
				if fast.Rect != slow.Rect {
					t.Fatalf("dav1d path %v, libavif path %v", fast.Rect, slow.Rect)
				}
				// Both decoders are exact AV1 decoders: the planes agree, and only the
				// conversions to RGB round differently.
				var worst int
				for i := range fast.Pix {
					worst = max(worst, abs(int(fast.Pix[i])-int(slow.Pix[i])))
				}
				if worst > 3 {
					t.Errorf("dav1d path differs from the libavif one by up to %d levels", worst)
				}
			}
			res, err := Make(b, DefaultOptions)
			if err != nil || res.Renditions[0].Size != image.Pt(256, 192) {
				t.Fatalf("Make: %v, %v", res.Renditions, err)
			}
		})
	}
}

// TestNCLXToRGB: the colour descriptions AVIF files carry convert the primaries and
// grey as ITU-T H.273 defines them, at 8 and 10 bits, full and limited range; 8-bit
// BT.601 full range is image/color's conversion (what the JPEG path uses); YCgCo and
// constant luminance convert for HEIC only (as libheif; libavif is left an AVIF's).
func TestNCLXToRGB(t *testing.T) {
	type rgb [3]uint8
	for _, tc := range []struct {
		name      string
		c         nclx
		depth     int
		y, cb, cr uint32
		want      rgb
	}{
		// BT.709 limited, 8 bits: red is (63, 102, 240), white (235, 128, 128).
		{"709 limited red", nclx{matrix: 1}, 8, 63, 102, 240, rgb{255, 0, 0}},
		{"709 limited white", nclx{matrix: 1}, 8, 235, 128, 128, rgb{255, 255, 255}},
		{"709 limited black", nclx{matrix: 1}, 8, 16, 128, 128, rgb{0, 0, 0}},
		// BT.709 full, 10 bits: blue is Y 0.0722, Pb 0.5, Pr -0.0458.
		{"709 full 10-bit blue", nclx{matrix: 1, fullRange: true}, 10, 74, 1023, 465, rgb{0, 0, 255}},
		// BT.601 limited, 10 bits: mid grey.
		{"601 limited 10-bit grey", nclx{matrix: 6}, 10, 64 + 438, 512, 512, rgb{128, 128, 128}},
		// BT.2020 full, 8 bits: green is Y 0.678, Pb -0.360, Pr -0.460.
		{"2020 full green", nclx{matrix: 9, fullRange: true}, 8, 173, 36, 11, rgb{0, 255, 0}},
		// Identity: the planes are G, B, R.
		{"identity", nclx{matrix: 0, fullRange: true}, 8, 10, 20, 30, rgb{30, 10, 20}},
	} {
		conv, ok := tc.c.toRGB(AVIF, tc.depth)
		if !ok {
			t.Errorf("%s: not converted", tc.name)
			continue
		}
		r, g, b := conv(tc.y, tc.cb, tc.cr)
		for k, v := range []uint8{r, g, b} {
			if abs(int(v)-int(tc.want[k])) > 2 {
				t.Errorf("%s: got %v, want %v", tc.name, rgb{r, g, b}, tc.want)
				break
			}
		}
	}
	conv, ok := nclx{matrix: 6, fullRange: true}.toRGB(AVIF, 8)
	for _, s := range [][3]uint8{{0, 0, 0}, {255, 128, 128}, {81, 90, 240}, {145, 54, 34}, {41, 240, 110}} {
		r, g, b := conv(uint32(s[0]), uint32(s[1]), uint32(s[2]))
		wr, wg, wb := color.YCbCrToRGB(s[0], s[1], s[2])
		if !ok || [3]uint8{r, g, b} != [3]uint8{wr, wg, wb} {
			t.Errorf("BT.601 full range %v: %v,%v,%v, image/color gives %v,%v,%v", s, r, g, b, wr, wg, wb)
		}
	}
	for _, m := range []int{8, 10} {
		if _, ok := (nclx{matrix: m, fullRange: true}).toRGB(AVIF, 8); ok {
			t.Errorf("matrix %d converted for AVIF", m)
		}
		if _, ok := (nclx{matrix: m, fullRange: true}).toRGB(HEIC, 8); !ok {
			t.Errorf("matrix %d not converted for HEIC", m)
		}
	}
	// YCgCo, 8 bits: Y 128, Cg -64, Co +64 is R 255, G 64, B 128 (R = Y - Cg + Co,
	// G = Y + Cg, B = Y - Cg - Co).
	conv, _ = nclx{matrix: 8}.toRGB(HEIC, 8)
	if r, g, b := conv(128, 64, 192); abs(int(r)-255) > 1 || abs(int(g)-64) > 1 || abs(int(b)-128) > 1 {
		t.Errorf("YCgCo (128, 64, 192): %d,%d,%d, want 255,64,128", r, g, b)
	}
}
