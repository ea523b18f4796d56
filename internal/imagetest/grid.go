package imagetest

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/draw"
	"testing"
)

// GridTiles cuts src into rows×cols tiles of tw×th, row by row, and encodes each with
// encode. Where a tile overhangs the picture it is opaque grey (a transparent margin
// would make heif-enc add an alpha plane).
func GridTiles(src image.Image, rows, cols, tw, th int, encode func(tile image.Image) []byte) [][]byte {
	var tiles [][]byte
	for r := range rows {
		for c := range cols {
			tile := image.NewRGBA(image.Rect(0, 0, tw, th))
			draw.Draw(tile, tile.Rect, image.NewUniform(color.Gray{Y: 128}), image.Point{}, draw.Src)
			draw.Draw(tile, tile.Rect, src, src.Bounds().Min.Add(image.Pt(c*tw, r*th)), draw.Over)
			tiles = append(tiles, encode(tile))
		}
	}
	return tiles
}

// GridHEIF assembles a rows×cols grid HEIF of the given output size from one-item
// files of equal-sized tiles as heif-enc writes them (AVIF when avif is true, else
// HEIC), the way a camera stores a large picture: a grid item (item 1) whose
// descriptor is in idat, naming the hidden tiles (items 2..), which carry the first
// tile file's av1C or hvcC, ispe, colr and pixi properties; the grid has the output
// size and the tiles' colr and pixi.
func GridHEIF(tb testing.TB, avif bool, tiles [][]byte, rows, cols, w, h int) []byte {
	tb.Helper()
	bx := func(typ string, body ...[]byte) []byte {
		b := bytes.Join(body, nil)
		return append(binary.BigEndian.AppendUint32(nil, uint32(8+len(b))), append([]byte(typ), b...)...)
	}
	full := func(typ string, v byte, flags uint32, body ...[]byte) []byte {
		return bx(typ, append([]byte{v, byte(flags >> 16), byte(flags >> 8), byte(flags)}, bytes.Join(body, nil)...))
	}
	u16 := func(v int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }
	u32 := func(v int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
	var tileProps [][]byte // av1C or hvcC, ispe, colr, pixi of the first tile
	for _, p := range primaryProps(tb, tiles[0]) {
		switch string(p[4:8]) {
		case "av1C", "hvcC", "ispe", "colr", "pixi":
			tileProps = append(tileProps, p)
		}
	}
	var data [][]byte
	for _, tf := range tiles {
		data = append(data, primaryData(tb, tf))
	}
	n := len(tiles)
	typ, brands := "hvc1", "heicmif1"
	if avif {
		typ, brands = "av01", "avifmif1miaf"
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
	// ipma: the grid has ispe (1) and the tiles' colr and pixi; each tile all of its
	// properties, the decoder configuration essential.
	gridAssoc := []byte{0x81}
	var tileAssoc []byte
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

// child returns the first box of type typ among the boxes in b (headers included), or
// nil. Only the 32-bit box sizes heif-enc writes are read.
func child(b []byte, typ string) []byte {
	for len(b) >= 8 {
		n := int(binary.BigEndian.Uint32(b))
		if n < 8 || n > len(b) {
			return nil
		}
		if string(b[4:8]) == typ {
			return b[:n]
		}
		b = b[n:]
	}
	return nil
}

// metaChild is box typ inside the meta box of a heif-enc file (headers included).
func metaChild(tb testing.TB, file []byte, typ string) []byte {
	tb.Helper()
	meta := child(file, "meta")
	if len(meta) < 12 {
		tb.Fatal("heif-enc file without a meta box")
	}
	c := child(meta[12:], typ)
	if c == nil {
		tb.Fatalf("heif-enc file without a %s box", typ)
	}
	return c
}

// primaryProps are the property boxes (headers included) associated with item 1 of a
// one-item heif-enc file, in ipma's order (version 0, 8-bit indices, as heif-enc
// writes it).
func primaryProps(tb testing.TB, file []byte) [][]byte {
	tb.Helper()
	iprp := metaChild(tb, file, "iprp")
	ipco, ipma := child(iprp[8:], "ipco"), child(iprp[8:], "ipma")
	if ipco == nil || len(ipma) < 16 || ipma[8] != 0 || ipma[11]&1 != 0 {
		tb.Fatal("heif-enc file: iprp not as expected")
	}
	var props [][]byte
	for b := ipco[8:]; len(b) >= 8; {
		n := int(binary.BigEndian.Uint32(b))
		props = append(props, b[:n])
		b = b[n:]
	}
	// entry_count, then item 1's id (16 bits) and association count.
	e := ipma[16:]
	if binary.BigEndian.Uint16(e) != 1 {
		tb.Fatal("heif-enc file: ipma does not start with item 1")
	}
	var out [][]byte
	for _, a := range e[3 : 3+int(e[2])] {
		if i := int(a & 0x7F); i >= 1 && i <= len(props) {
			out = append(out, props[i-1])
		}
	}
	return out
}

// primaryData is the coded data of item 1 of a one-item heif-enc file: its one extent
// (iloc version 0 or 1, 4-byte offsets and lengths, a base offset of 0 or 4 bytes).
func primaryData(tb testing.TB, file []byte) []byte {
	tb.Helper()
	iloc := metaChild(tb, file, "iloc")
	v := iloc[8]
	r := iloc[12:]
	baseSize := int(r[1] >> 4)
	if r[0] != 0x44 || (baseSize != 0 && baseSize != 4) {
		tb.Fatal("heif-enc file: iloc field sizes not as expected")
	}
	r = r[2:] // sizes
	if binary.BigEndian.Uint16(r) < 1 || binary.BigEndian.Uint16(r[2:]) != 1 {
		tb.Fatal("heif-enc file: the first located item is not item 1")
	}
	r = r[4:] // item count, item id
	if v > 0 {
		r = r[2:] // construction method
	}
	r = r[2:] // data reference index
	var base uint64
	if baseSize == 4 {
		base, r = uint64(binary.BigEndian.Uint32(r)), r[4:]
	}
	if binary.BigEndian.Uint16(r) != 1 {
		tb.Fatal("heif-enc file: item 1 is not in one extent")
	}
	off, n := base+uint64(binary.BigEndian.Uint32(r[2:])), uint64(binary.BigEndian.Uint32(r[6:]))
	if off+n > uint64(len(file)) {
		tb.Fatal("heif-enc file: item 1's extent runs past the file")
	}
	return file[off : off+n]
}
