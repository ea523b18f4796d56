package thumbnail

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var update = flag.Bool("update", false, "regenerate the WebP fixtures in testdata with vips")

// The four quadrant colours of the upright test picture.
var (
	red    = color.RGBA{255, 0, 0, 255}
	green  = color.RGBA{0, 255, 0, 255}
	blue   = color.RGBA{0, 0, 255, 255}
	yellow = color.RGBA{255, 255, 0, 255}
)

// The upright picture is visualW×visualH: red top-left, green top-right, blue
// bottom-left, yellow bottom-right.
const visualW, visualH = 64, 48

// sides is, per EXIF orientation, which visual side the stored 0th row and the stored
// 0th column show (the EXIF 2.3 specification's own table).
var sides = map[Orientation][2]string{
	1: {"top", "left"}, 2: {"top", "right"}, 3: {"bottom", "right"}, 4: {"bottom", "left"},
	5: {"left", "top"}, 6: {"right", "top"}, 7: {"right", "bottom"}, 8: {"left", "bottom"},
}

func opposite(s string) string {
	return map[string]string{"top": "bottom", "bottom": "top", "left": "right", "right": "left"}[s]
}

// corner is the colour of the visual corner where sides a and b meet.
func corner(a, b string) color.RGBA {
	has := func(s string) bool { return a == s || b == s }
	switch {
	case has("top") && has("left"):
		return red
	case has("top") && has("right"):
		return green
	case has("bottom") && has("left"):
		return blue
	}
	return yellow
}

// storedPicture is the upright picture as a camera with orientation o stores it.
func storedPicture(o Orientation) *image.RGBA {
	w, h := visualW, visualH
	if o >= 5 {
		w, h = h, w
	}
	row0, col0 := sides[o][0], sides[o][1]
	q := map[[2]bool]color.RGBA{ // [bottom half, right half] of the stored image
		{false, false}: corner(row0, col0),
		{false, true}:  corner(row0, opposite(col0)),
		{true, false}:  corner(opposite(row0), col0),
		{true, true}:   corner(opposite(row0), opposite(col0)),
	}
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetRGBA(x, y, q[[2]bool{y >= h/2, x >= w/2}])
		}
	}
	return m
}

// tiffWithOrientation is a little- or big-endian TIFF block with one IFD0 entry.
func tiffWithOrientation(o Orientation, bo binary.ByteOrder) []byte {
	b := make([]byte, 26)
	if bo == binary.LittleEndian {
		copy(b, "II*\x00")
	} else {
		copy(b, "MM\x00*")
	}
	bo.PutUint32(b[4:], 8)
	bo.PutUint16(b[8:], 1)
	bo.PutUint16(b[10:], 0x0112)
	bo.PutUint16(b[12:], 3)
	bo.PutUint32(b[14:], 1)
	bo.PutUint16(b[18:], uint16(o))
	return b // next-IFD offset 0
}

func encodeJPEG(t testing.TB, m image.Image, o Orientation) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if o == 0 {
		return b
	}
	payload := append([]byte("Exif\x00\x00"), tiffWithOrientation(o, binary.BigEndian)...)
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	out := append([]byte{}, b[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, b[2:]...)
}

func pngChunk(typ string, data []byte) []byte {
	c := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	c = append(c, typ...)
	c = append(c, data...)
	return binary.BigEndian.AppendUint32(c, crc32.ChecksumIEEE(c[4:]))
}

func encodePNG(t testing.TB, m image.Image, o Orientation) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, m); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if o == 0 {
		return b
	}
	ihdrEnd := 8 + 8 + 13 + 4
	out := append([]byte{}, b[:ihdrEnd]...)
	out = append(out, pngChunk("eXIf", tiffWithOrientation(o, binary.LittleEndian))...)
	return append(out, b[ihdrEnd:]...)
}

func encodeGIF(t testing.TB, m image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := gif.Encode(&buf, m, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// webpWithOrientation rewraps the image chunk (VP8 or VP8L) of a WebP file in the
// extended format, with an EXIF chunk after the image data, where writers put it.
func webpWithOrientation(t testing.TB, file []byte, o Orientation, w, h int) []byte {
	t.Helper()
	var img []byte
	for i := 12; i+8 <= len(file); {
		n := int(binary.LittleEndian.Uint32(file[i+4:]))
		if fcc := string(file[i : i+4]); fcc == "VP8 " || fcc == "VP8L" {
			img = file[i : i+8+n+n&1]
			break
		}
		i += 8 + n + n&1
	}
	if img == nil {
		t.Fatal("fixture has no VP8 or VP8L chunk")
	}
	var body []byte
	body = append(body, "WEBP"...)
	vp8x := make([]byte, 10)
	vp8x[0] = 0x08 // EXIF present
	put24 := func(b []byte, v int) { b[0], b[1], b[2] = byte(v), byte(v>>8), byte(v>>16) }
	put24(vp8x[4:], w-1)
	put24(vp8x[7:], h-1)
	body = append(body, "VP8X"...)
	body = binary.LittleEndian.AppendUint32(body, 10)
	body = append(body, vp8x...)
	body = append(body, img...)
	exif := append([]byte("Exif\x00\x00"), tiffWithOrientation(o, binary.LittleEndian)...)
	body = append(body, "EXIF"...)
	body = binary.LittleEndian.AppendUint32(body, uint32(len(exif)))
	body = append(body, exif...)
	if len(exif)%2 == 1 {
		body = append(body, 0)
	}
	out := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	return append(out, body...)
}

// webpFixture reads testdata/<name>, made by vips from the stored picture of
// orientation 6 (run with -update to remake it).
func webpFixture(t *testing.T, name, vipsOpts string) []byte {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		dir := t.TempDir()
		src := filepath.Join(dir, "in.png")
		if err := os.WriteFile(src, encodePNG(t, storedPicture(6), 0), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("vips", "copy", src, path+vipsOpts).CombinedOutput(); err != nil {
			t.Fatalf("vips: %v\n%s", err, out)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// quadrants samples the centre of each quadrant of an image.
func quadrants(m image.Image) [4]color.RGBA {
	b := m.Bounds()
	at := func(fx, fy float64) color.RGBA {
		r, g, bl, _ := m.At(b.Min.X+int(fx*float64(b.Dx())), b.Min.Y+int(fy*float64(b.Dy()))).RGBA()
		return color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8), 255}
	}
	return [4]color.RGBA{at(.25, .25), at(.75, .25), at(.25, .75), at(.75, .75)}
}

// near compares colours within a JPEG's error.
func near(a, b color.RGBA) bool {
	d := func(x, y uint8) bool { return max(x, y)-min(x, y) < 48 }
	return d(a.R, b.R) && d(a.G, b.G) && d(a.B, b.B)
}

func TestMakeHonoursOrientationInEveryFormat(t *testing.T) {
	type input struct {
		name string
		data []byte
		o    Orientation
	}
	var inputs []input
	for o := Orientation(1); o <= 8; o++ {
		inputs = append(inputs,
			input{fmt.Sprintf("jpeg orientation %d", o), encodeJPEG(t, storedPicture(o), o), o},
			input{fmt.Sprintf("png orientation %d", o), encodePNG(t, storedPicture(o), o), o},
		)
	}
	inputs = append(inputs,
		input{"jpeg without exif", encodeJPEG(t, storedPicture(1), 0), 1},
		input{"png without exif", encodePNG(t, storedPicture(1), 0), 1},
		input{"gif", encodeGIF(t, storedPicture(1)), 1},
		input{"webp lossless orientation 6", webpWithOrientation(t, webpFixture(t, "stored6-lossless.webp", "[lossless,strip]"), 6, visualH, visualW), 6},
		input{"webp lossy orientation 6", webpWithOrientation(t, webpFixture(t, "stored6-lossy.webp", "[Q=95,strip]"), 6, visualH, visualW), 6},
	)
	want := [4]color.RGBA{red, green, blue, yellow}
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			o := DefaultOptions
			o.Widths = []int{32, 16, 1000}
			res, err := Make(in.data, o)
			if err != nil {
				t.Fatal(err)
			}
			if res.Orientation != in.o {
				t.Errorf("orientation = %d, want %d", res.Orientation, in.o)
			}
			wantSizes := []image.Point{{32, 24}, {16, 12}, {visualW, visualH}}
			for i, r := range res.Renditions {
				m, err := jpeg.Decode(bytes.NewReader(r.JPEG))
				if err != nil {
					t.Fatalf("rendition %d is not a JPEG: %v", r.Width, err)
				}
				if got := m.Bounds().Size(); got != wantSizes[i] || r.Size != wantSizes[i] {
					t.Errorf("width %d: size %v (reported %v), want %v", r.Width, got, r.Size, wantSizes[i])
				}
				got := quadrants(m)
				for k := range got {
					if !near(got[k], want[k]) {
						t.Errorf("width %d: quadrants %v, want %v", r.Width, got, want)
						break
					}
				}
			}
		})
	}
}

func TestMakeIsDeterministic(t *testing.T) {
	b := encodeJPEG(t, storedPicture(6), 6)
	r1, err := Make(b, DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Make(b, DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r1.Renditions[0].JPEG, r2.Renditions[0].JPEG) {
		t.Error("two runs on the same bytes gave different thumbnails")
	}
}

func TestMakeFlattensTransparencyOnWhite(t *testing.T) {
	m := image.NewNRGBA(image.Rect(0, 0, 40, 40))
	res, err := Make(encodePNG(t, m, 0), Options{Widths: []int{10}, Quality: 90, Limits: DefaultLimits})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := jpeg.Decode(bytes.NewReader(res.Renditions[0].JPEG))
	if got := quadrants(out)[0]; !near(got, color.RGBA{255, 255, 255, 255}) {
		t.Errorf("transparent pixel became %v, want white", got)
	}
}

// hugePNGHeader is a valid PNG signature and IHDR claiming w×h RGBA pixels, and no data.
func hugePNGHeader(w, h uint32) []byte {
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 6, 0, 0, 0)
	return append(append([]byte{}, pngSignature...), pngChunk("IHDR", ihdr)...)
}

// hugeJPEGHeader is SOI and a baseline SOF0 claiming w×h three-component pixels.
func hugeJPEGHeader(w, h uint16) []byte {
	b := []byte{0xFF, 0xD8, 0xFF, 0xDB, 0, 67, 0}
	b = append(b, make([]byte, 64)...)
	for i := 8; i < len(b); i++ {
		b[i] = 1
	}
	b = append(b, 0xFF, 0xC0, 0, 17, 8)
	b = binary.BigEndian.AppendUint16(b, h)
	b = binary.BigEndian.AppendUint16(b, w)
	b = append(b, 3, 1, 0x22, 0, 2, 0x11, 0, 3, 0x11, 0)
	return append(b, 0xFF, 0xDA, 0, 12) // start of scan: the header ends here
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"text named .jpg", []byte("this is a text file, not a photo, whatever its name says\n"), ErrNotImage},
		{"empty", nil, ErrNotImage},
		{"png claiming 100000×100000", hugePNGHeader(100000, 100000), ErrTooLarge},
		{"jpeg claiming 60000×60000", hugeJPEGHeader(60000, 60000), ErrTooLarge},
		{"png of zero width", hugePNGHeader(0, 10), ErrNotImage},
		{"truncated jpeg", encodeJPEG(t, storedPicture(1), 0)[:300], ErrNotImage},
		{"corrupt png body", append(hugePNGHeader(10, 10), pngChunk("IDAT", []byte("garbage"))...), ErrNotImage},
		{"too tall", encodePNG(t, image.NewGray(image.Rect(0, 0, 2, 200)), 0), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Make(tt.data, DefaultOptions); !errors.Is(err, tt.want) {
				t.Fatalf("Make: %v, want %v", err, tt.want)
			}
		})
	}
}

func TestHugeHeaderAllocatesNothingLarge(t *testing.T) {
	for _, b := range [][]byte{hugePNGHeader(100000, 100000), hugeJPEGHeader(60000, 60000)} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := Make(b, DefaultOptions)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Make: %v, want ErrTooLarge", err)
		}
		if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
			t.Errorf("refusing a crafted header allocated %d bytes", d)
		}
	}
}

func TestMaxBytes(t *testing.T) {
	b := encodePNG(t, storedPicture(1), 0)
	o := DefaultOptions
	o.Limits.MaxBytes = int64(len(b) - 1)
	if _, err := Make(b, o); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Make over MaxBytes: %v, want ErrTooLarge", err)
	}
}

func TestInspect(t *testing.T) {
	jpeg420 := func(w, h int) []byte {
		var buf bytes.Buffer
		_ = jpeg.Encode(&buf, image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420), nil)
		return buf.Bytes()
	}
	big := jpeg420(4000, 3000)
	tests := []struct {
		name string
		data []byte
		want Header
		err  error
	}{
		// 4000×3000 4:2:0 baseline, decoded at 1/8 for 256 pixels: 250×188 MCUs of 2×2
		// luma and two chroma samples, 8 KiB of Huffman tables, then a 500×375 RGBA image.
		{"12 MP jpeg header only", big[:600], Header{Format: JPEG, Width: 4000, Height: 3000, Orientation: Normal, DecodeBytes: 282_000 + 8192 + 750_000 + workBytes + 256*192*80}, nil},
		{"few bytes", big[:5], Header{}, ErrIncomplete},
		{"header cut before SOF", big[:100], Header{}, ErrIncomplete},
		{"gif", encodeGIF(t, storedPicture(1)), Header{Format: GIF, Width: visualW, Height: visualH, Orientation: Normal, DecodeBytes: visualW*visualH + workBytes + visualW*visualH*80}, nil},
		// Decoded row by row: two rows of 81 bytes, 10 column sums of 40 bytes, the
		// 10×10 RGBA result and zlib's 64 KiB.
		{"16-bit png", encodePNG(t, image.NewRGBA64(image.Rect(0, 0, 10, 10)), 0), Header{Format: PNG, Width: 10, Height: 10, Orientation: Normal, DecodeBytes: 162 + 400 + 400 + 64<<10 + workBytes + 10*10*80}, nil},
		{"interlaced png", interlacedPNG(t), Header{Format: PNG, Width: 8, Height: 8, Orientation: Normal, DecodeBytes: 2*8*8 + workBytes + 8*8*80}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Inspect(tt.data, DefaultOptions)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Inspect: %v, want %v", err, tt.err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreUnexported(Header{})); diff != "" {
				t.Errorf("Inspect (-want +got):\n%s", diff)
			}
		})
	}
}
