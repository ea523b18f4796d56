package thumbnail

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"strings"
	"testing"

	"github.com/serverless-architect/serverless-architect/internal/imagetest"
)

// gridHEIF assembles a rows×cols grid HEIF (AVIF or HEIC, as f says) of the given
// output size from one-item files of equal-sized tiles (as heif-enc writes them), the
// way a camera stores a large picture: a grid item whose descriptor is in idat, naming
// the hidden tiles, which carry the first tile file's av1C or hvcC, ispe, colr and
// pixi properties.
func gridHEIF(t *testing.T, f Format, tiles [][]byte, rows, cols, w, h int) []byte {
	t.Helper()
	bx := func(typ string, body ...[]byte) []byte {
		b := bytes.Join(body, nil)
		return append(binary.BigEndian.AppendUint32(nil, uint32(8+len(b))), append([]byte(typ), b...)...)
	}
	full := func(typ string, v byte, flags uint32, body ...[]byte) []byte {
		return bx(typ, append([]byte{v, byte(flags >> 16), byte(flags >> 8), byte(flags)}, bytes.Join(body, nil)...))
	}
	u16 := func(v int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }
	u32 := func(v int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
	first, err := parseHEIF(tiles[0])
	if err != nil {
		t.Fatal(err)
	}
	var tileProps [][]byte // av1C, ispe, colr, pixi of the first tile
	for _, i := range first.items[first.primary].props {
		p := first.props[i-1]
		if p.typ == "av1C" || p.typ == "hvcC" || p.typ == "ispe" || p.typ == "colr" || p.typ == "pixi" {
			tileProps = append(tileProps, tiles[0][p.start:p.end])
		}
	}
	var data [][]byte
	for _, tf := range tiles {
		hf, err := parseHEIF(tf)
		if err != nil {
			t.Fatal(err)
		}
		it := hf.items[hf.primary]
		if len(it.extents) != 1 || it.idat {
			t.Fatalf("tile data in %d extents", len(it.extents))
		}
		data = append(data, tf[it.extents[0][0]:it.extents[0][0]+it.extents[0][1]])
	}
	n := len(tiles)
	// Item 1 is the grid, items 2.. the tiles.
	typ, brands := "av01", "avifmif1miaf"
	if f == HEIC {
		typ, brands = "hvc1", "heicmif1"
	}
	infe := [][]byte{full("infe", 2, 0, u16(1), u16(0), []byte("grid\x00"))}
	for i := range n {
		infe = append(infe, full("infe", 2, 1, u16(2+i), u16(0), []byte(typ+"\x00")))
	}
	ref := [][]byte{u16(1), u16(n)}
	for i := range n {
		ref = append(ref, u16(2+i))
	}
	ipco := [][]byte{full("ispe", 0, 0, u32(w), u32(h))}
	ipco = append(ipco, tileProps...)
	// ipma: the grid has ispe (1) and the tiles' colr and pixi; each tile all of
	// its properties, av1C (2) essential.
	var gridAssoc, tileAssoc []byte
	gridAssoc = append(gridAssoc, 0x81)
	for k, p := range tileProps {
		idx := byte(2 + k)
		switch string(p[4:8]) {
		case "av1C", "hvcC":
			tileAssoc = append(tileAssoc, 0x80|idx)
		case "colr", "pixi":
			gridAssoc = append(gridAssoc, idx)
			tileAssoc = append(tileAssoc, idx)
		default:
			tileAssoc = append(tileAssoc, idx)
		}
	}
	ipma := [][]byte{u32(1 + n), u16(1), {byte(len(gridAssoc))}, gridAssoc}
	for i := range n {
		ipma = append(ipma, u16(2+i), []byte{byte(len(tileAssoc))}, tileAssoc)
	}
	desc := append([]byte{0, 0, byte(rows - 1), byte(cols - 1)}, append(u16(w), u16(h)...)...)
	ftyp := bx("ftyp", []byte(brands[:4]), u32(0), []byte(brands))
	meta := func(mdatStart int) []byte {
		iloc := [][]byte{{0x44, 0x00}, u16(1 + n), u16(1), u16(1), u16(0), u16(1), u32(0), u32(len(desc))}
		off := mdatStart + 8
		for i, d := range data {
			iloc = append(iloc, u16(2+i), u16(0), u16(0), u16(1), u32(off), u32(len(d)))
			off += len(d)
		}
		return full("meta", 0, 0,
			full("hdlr", 0, 0, u32(0), []byte("pict"), make([]byte, 12), []byte{0}),
			full("pitm", 0, 0, u16(1)),
			full("iinf", 0, 0, u16(1+n), bytes.Join(infe, nil)),
			full("iloc", 1, 0, iloc...),
			full("iref", 0, 0, bx("dimg", ref...)),
			bx("idat", desc),
			bx("iprp", bx("ipco", ipco...), full("ipma", 0, 0, ipma...)))
	}
	m := meta(0)
	m = meta(len(ftyp) + len(m))
	return bytes.Join([][]byte{ftyp, m, bx("mdat", data...)}, nil)
}

// TestAVIFGrid: a grid AVIF (2×3 tiles, the right column and bottom row overhanging
// the 640×470 picture) is decoded by dav1d tile by tile in parallel, within its
// reservation's plan, into the same thumbnail libavif (which composes grids itself)
// makes of it, and close to the source.
func TestAVIFGrid(t *testing.T) {
	enc := imagetest.Tool(t, "heif-enc", "libheif-examples")
	const rows, cols, tw, th, w, h = 2, 3, 224, 240, 640, 470
	src := imagetest.Photo(w, h, 11)
	var tiles [][]byte
	for r := range rows {
		for c := range cols {
			// Opaque grey where a tile overhangs the picture (else heif-enc adds alpha).
			tile := image.NewRGBA(image.Rect(0, 0, tw, th))
			draw.Draw(tile, tile.Rect, image.NewUniform(color.Gray{Y: 128}), image.Point{}, draw.Src)
			draw.Draw(tile, tile.Rect, src, image.Pt(c*tw, r*th), draw.Over)
			tiles = append(tiles, imagetest.Convert(t, enc, tile, nil, ".png", ".avif", "-A", "-q", "90", "-p", "speed=9", "-o", "OUT", "IN"))
		}
	}
	b := gridHEIF(t, AVIF, tiles, rows, cols, w, h)
	hd, err := Inspect(b, DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	if hd.Format != AVIF || hd.Width != w || hd.Height != h || hd.heif.tiles != rows*cols {
		t.Fatalf("header %+v", hd)
	}
	if want := hd.heif.planesGridBytes() + resampleBytes(256, 188); hd.DecodeBytes != want {
		t.Errorf("reserved %d bytes, want the dav1d grid's %d", hd.DecodeBytes, want)
	}
	fast, ok, err := decodePlanes(hd, b, DefaultOptions.Widths, DefaultLimits.MaxPixels)
	if err != nil || !ok {
		t.Fatalf("decodePlanes: taken %v, %v", ok, err)
	}
	m, _, err := decode(hd, b)
	if err != nil {
		t.Fatal(err)
	}
	slow := shrink(m, hd.boxFactor(DefaultOptions.Widths, w, h))
	if fast.Rect != slow.Rect {
		t.Fatalf("dav1d path %v, libavif path %v", fast.Rect, slow.Rect)
	}
	var worst int
	for i := range fast.Pix {
		worst = max(worst, abs(int(fast.Pix[i])-int(slow.Pix[i])))
	}
	if worst > 3 {
		t.Errorf("dav1d grid differs from libavif's by up to %d levels", worst)
	}
	res, err := Make(b, DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jpeg.Decode(bytes.NewReader(res.Renditions[0].JPEG))
	if err != nil {
		t.Fatal(err)
	}
	if got := imagetest.SSIM(out, reference(src, 256, 188)); got < 0.9 {
		t.Errorf("SSIM against the source %.3f, want ≥ 0.9", got)
	}
	// A tile whose data is not AV1 (every OBU header's forbidden bit set): the whole
	// image is refused, never a crash or a thumbnail with a hole.
	bad := bytes.Clone(b)
	e := hd.heif.items[4].extents[0]
	for i := e[0]; i < e[0]+e[1]; i++ {
		bad[i] = 0xFF
	}
	if _, err := Make(bad, DefaultOptions); !errors.Is(err, ErrNotImage) || !strings.Contains(err.Error(), "AVIF grid") {
		t.Errorf("a garbled tile: %v, want ErrNotImage from the grid", err)
	}
}
