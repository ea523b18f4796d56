package thumbnail

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"

	"github.com/serverless-architect/serverless-architect/internal/thumbnail/de265"
)

// heifFile is what the boxes of an HEIF (HEIC or AVIF) file say about its primary
// image, read without decoding it (ISO/IEC 14496-12 boxes, ISO/IEC 23008-12 items and
// properties).
type heifFile struct {
	primary uint32
	items   map[uint32]*heifItem
	// width and height are the primary image's stored size (ispe), before irot/imir.
	width, height int
	// tiles is the number of coded images the primary is made of (1, or a grid's).
	tiles int
	// gridRows and gridCols are a grid primary's layout when its descriptor was read
	// (in idat, or in the part of the file parsed; 0 otherwise); tileWidth and
	// tileHeight its first tile's size (ispe).
	gridRows, gridCols    int
	tileWidth, tileHeight int
	// rotation (anticlockwise quarter turns) and mirror (-1 none, 0 about a vertical
	// axis, 1 about a horizontal one) of the primary, in the order listed.
	transforms []heifTransform
	icc        []byte
	// metadata is the bytes of Exif and XMP items and ICC profiles.
	metadata int64
	// frames is the sample count of an image sequence's track (0 when none).
	frames int
	// props are the ipco property boxes, 1-based indices less one.
	props []box
	// thumbnail is the id of the largest thumbnail item of the primary, or 0.
	thumbnail            uint32
	thumbWidth, thmbHigh int
	// bitDepth is the primary's (or its first tile's) luma bit depth.
	bitDepth int
}

type heifItem struct {
	typ    string
	hidden bool
	// extents are (offset, length) in the file (construction method 0) or in idat (1).
	extents [][2]uint64
	idat    bool
	props   []int // 1-based ipco indices
	// assoc are where in the file each of props is associated (the byte holding the
	// essential bit), in the same order.
	assoc []int64
	refs  map[string][]uint32
}

type heifTransform struct {
	rotate int // anticlockwise quarter turns, 0..3; -1 when this is a mirror
	// mirror is imir's axis bit. libheif (and so vips, and every viewer built on it)
	// flips top-bottom for 0 and left-right for 1; the thumbnailer does the same.
	mirror int
}

// errHEIF builds ErrNotImage errors about the container.
func errHEIF(format string, args ...any) error {
	return fmt.Errorf("%w: HEIF container: %s", ErrNotImage, fmt.Sprintf(format, args...))
}

// box is one ISO BMFF box.
type box struct {
	typ        string
	body       []byte
	start, end int64
}

// errShortBox: a box runs past the bytes given (the file, or the probe).
var errShortBox = errors.New("box runs past the end")

// boxes splits b (the payload of a container box, or a whole file starting at offset
// base) into boxes. A box running past the end is errShortBox.
func boxes(b []byte, base int64) ([]box, error) {
	var out []box
	for i := int64(0); i < int64(len(b)); {
		if int64(len(b))-i < 8 {
			return out, fmt.Errorf("%d stray bytes at byte %d: %w", int64(len(b))-i, base+i, errShortBox)
		}
		size := int64(binary.BigEndian.Uint32(b[i:]))
		typ := string(b[i+4 : i+8])
		hdr := int64(8)
		switch size {
		case 0:
			size = int64(len(b)) - i
		case 1:
			if int64(len(b))-i < 16 {
				return out, fmt.Errorf("box %q: %w", typ, errShortBox)
			}
			size = int64(binary.BigEndian.Uint64(b[i+8:]))
			hdr = 16
		}
		if size < hdr {
			return out, errHEIF("box %q at byte %d has size %d", typ, base+i, size)
		}
		if size > int64(len(b))-i {
			return out, fmt.Errorf("box %q at byte %d of %d bytes: %w", typ, base+i, size, errShortBox)
		}
		out = append(out, box{typ: typ, body: b[i+hdr : i+size], start: base + i, end: base + i + size})
		i += size
	}
	return out, nil
}

// heifBrand reports which of HEIC and AVIF the ftyp at the start of b announces, or "".
func heifBrand(b []byte) Format {
	if len(b) < 16 || string(b[4:8]) != "ftyp" {
		return ""
	}
	size := int(binary.BigEndian.Uint32(b))
	if size < 16 || size > len(b) || size%4 != 0 {
		size = min(len(b), 64) &^ 3
	}
	brands := [][]byte{b[8:12]}
	for i := 16; i+4 <= size; i += 4 {
		brands = append(brands, b[i:i+4])
	}
	var f Format
	for _, br := range brands {
		switch string(br) {
		case "avif", "avis":
			return AVIF
		case "heic", "heix", "heim", "heis", "hevc", "hevx":
			f = HEIC
		case "mif1", "msf1":
			if f == "" {
				f = HEIC // settled by the primary item's type
			}
		}
	}
	return f
}

// parseHEIF reads the boxes of an HEIF file. b may be a prefix of the file (the probe):
// a meta box that runs past it is ErrIncomplete.
func parseHEIF(b []byte) (*heifFile, error) {
	top, err := boxes(b, 0)
	var meta *box
	for i := range top {
		if top[i].typ == "meta" {
			meta = &top[i]
		}
	}
	if meta == nil {
		if errors.Is(err, errShortBox) {
			return nil, fmt.Errorf("%w: HEIF meta box not within the first %d bytes", ErrIncomplete, len(b))
		}
		if err != nil {
			return nil, err
		}
		return nil, errHEIF("no meta box")
	}
	h := &heifFile{items: map[uint32]*heifItem{}}
	if err := h.readMeta(meta.body, bodyStart(*meta)); err != nil {
		return nil, err
	}
	// A grid whose descriptor is in the file (construction method 0), when that part
	// of the file is at hand (Make always has it).
	if prim := h.items[h.primary]; prim != nil && prim.typ == "grid" && !prim.idat && len(prim.extents) == 1 {
		if desc, ok := extent(b, prim.extents[0]); ok {
			if err := h.checkGrid(desc, len(prim.refs["dimg"])); err != nil {
				return nil, err
			}
		}
	}
	for _, t := range top {
		if t.typ == "moov" {
			h.frames = sampleCount(t.body)
		}
	}
	return h, nil
}

func fullBox(b []byte) (version byte, flags uint32, body []byte, ok bool) {
	if len(b) < 4 {
		return 0, 0, nil, false
	}
	return b[0], uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]), b[4:], true
}

// reader reads big-endian fields, remembering the first overrun.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) n(size int) uint64 {
	if size == 0 {
		return 0
	}
	if len(r.b) < size {
		r.bad, r.b = true, nil
		return 0
	}
	var v uint64
	for _, c := range r.b[:size] {
		v = v<<8 | uint64(c)
	}
	r.b = r.b[size:]
	return v
}

func (r *reader) u8() uint32  { return uint32(r.n(1)) }
func (r *reader) u16() uint32 { return uint32(r.n(2)) }
func (r *reader) u32() uint32 { return uint32(r.n(4)) }

// id reads an item id: 16 bits in version-0 boxes, 32 in later ones.
func (r *reader) id(wide bool) uint32 {
	if wide {
		return r.u32()
	}
	return r.u16()
}

// Bounds on what a header may declare, so a hostile one cannot make the parser loop or
// allocate for long.
const (
	maxHEIFItems      = 4096
	maxHEIFProperties = 4096
	maxHEIFExtents    = 4096
	maxHEIFTiles      = 4096
)

// bodyStart is the file offset of a box's payload.
func bodyStart(b box) int64 { return b.end - int64(len(b.body)) }

func (h *heifFile) readMeta(body []byte, at int64) error {
	_, _, body, ok := fullBox(body)
	if !ok {
		return errHEIF("short meta box")
	}
	children, err := boxes(body, at+4)
	if err != nil {
		return errHEIF("meta: %v", err)
	}
	var props []box
	var idat []byte
	for _, c := range children {
		switch c.typ {
		case "hdlr":
			if len(c.body) < 12 || string(c.body[8:12]) != "pict" {
				return errHEIF("the meta handler is not 'pict'")
			}
		case "pitm":
			v, _, p, ok := fullBox(c.body)
			r := reader{b: p}
			h.primary = r.id(v > 0)
			if !ok || r.bad {
				return errHEIF("short pitm box")
			}
		case "iinf":
			if err := h.readIinf(c.body); err != nil {
				return err
			}
		case "iloc":
			if err := h.readIloc(c.body); err != nil {
				return err
			}
		case "iref":
			if err := h.readIref(c.body); err != nil {
				return err
			}
		case "idat":
			idat = c.body
		case "iprp":
			ip, err := boxes(c.body, bodyStart(c))
			if err != nil {
				return errHEIF("iprp: %v", err)
			}
			for _, p := range ip {
				switch p.typ {
				case "ipco":
					if props, err = boxes(p.body, bodyStart(p)); err != nil {
						return errHEIF("ipco: %v", err)
					}
					if len(props) > maxHEIFProperties {
						return fmt.Errorf("%w: HEIF file declares %d properties", ErrTooLarge, len(props))
					}
				case "ipma":
					if err := h.readIpma(p.body, bodyStart(p)); err != nil {
						return err
					}
				}
			}
		}
	}
	h.props = props
	return h.readPrimary(idat)
}

func (h *heifFile) item(id uint32) *heifItem {
	it := h.items[id]
	if it == nil {
		if len(h.items) >= maxHEIFItems {
			return &heifItem{} // counted out by readIinf
		}
		it = &heifItem{refs: map[string][]uint32{}}
		h.items[id] = it
	}
	return it
}

func (h *heifFile) readIinf(b []byte) error {
	v, _, p, ok := fullBox(b)
	if !ok {
		return errHEIF("short iinf box")
	}
	r := reader{b: p}
	n := r.id(v > 0)
	if n > maxHEIFItems {
		return fmt.Errorf("%w: HEIF file declares %d items", ErrTooLarge, n)
	}
	entries, err := boxes(r.b, 0)
	if err != nil || r.bad {
		return errHEIF("iinf: %v", err)
	}
	for _, e := range entries {
		if e.typ != "infe" {
			continue
		}
		ev, flags, ep, ok := fullBox(e.body)
		if !ok || ev < 2 {
			continue // version 0/1 entries (no item type) are not images
		}
		er := reader{b: ep}
		id := er.id(ev > 2)
		er.u16() // protection index
		typ := string(er.b[:min(4, len(er.b))])
		if er.bad || len(typ) < 4 {
			return errHEIF("short infe box")
		}
		it := h.item(id)
		it.typ, it.hidden = typ, flags&1 != 0
	}
	return nil
}

func (h *heifFile) readIloc(b []byte) error {
	v, _, p, ok := fullBox(b)
	if !ok || v > 2 {
		return errHEIF("iloc version %d", v)
	}
	r := reader{b: p}
	sizes := r.u16()
	offSize, lenSize, baseSize := int(sizes>>12), int(sizes>>8&15), int(sizes>>4&15)
	idxSize := 0
	if v > 0 {
		idxSize = int(sizes & 15)
	}
	for _, s := range []int{offSize, lenSize, baseSize, idxSize} {
		if s != 0 && s != 4 && s != 8 {
			return errHEIF("iloc field size %d", s)
		}
	}
	var count uint32
	if v < 2 {
		count = r.u16()
	} else {
		count = r.u32()
	}
	if count > maxHEIFItems {
		return fmt.Errorf("%w: HEIF file locates %d items", ErrTooLarge, count)
	}
	for range count {
		id := r.id(v == 2)
		method := uint32(0)
		if v > 0 {
			method = r.u16() & 15
		}
		r.u16() // data reference index
		base := r.n(baseSize)
		ne := r.u16()
		if ne > maxHEIFExtents {
			return fmt.Errorf("%w: HEIF item of %d extents", ErrTooLarge, ne)
		}
		it := h.item(id)
		it.idat = method == 1
		if method > 1 {
			return errHEIF("item %d is built from another item (construction method %d)", id, method)
		}
		for range ne {
			r.n(idxSize)
			off := r.n(offSize)
			n := r.n(lenSize)
			it.extents = append(it.extents, [2]uint64{base + off, n})
		}
		if r.bad {
			return errHEIF("short iloc box")
		}
	}
	return nil
}

func (h *heifFile) readIref(b []byte) error {
	v, _, p, ok := fullBox(b)
	if !ok {
		return errHEIF("short iref box")
	}
	refs, err := boxes(p, 0)
	if err != nil {
		return errHEIF("iref: %v", err)
	}
	for _, ref := range refs {
		r := reader{b: ref.body}
		from := r.id(v > 0)
		n := r.u16()
		if n > maxHEIFTiles {
			return fmt.Errorf("%w: HEIF item references %d items", ErrTooLarge, n)
		}
		it := h.item(from)
		for range n {
			it.refs[ref.typ] = append(it.refs[ref.typ], r.id(v > 0))
		}
		if r.bad {
			return errHEIF("short %q reference", ref.typ)
		}
	}
	return nil
}

func (h *heifFile) readIpma(b []byte, at int64) error {
	v, flags, p, ok := fullBox(b)
	if !ok {
		return errHEIF("short ipma box")
	}
	r := reader{b: p}
	n := r.u32()
	if n > maxHEIFItems {
		return fmt.Errorf("%w: HEIF file associates properties with %d items", ErrTooLarge, n)
	}
	for range n {
		it := h.item(r.id(v > 0))
		na := r.u8()
		for range na {
			var idx int
			off := at + int64(len(b)-len(r.b))
			if flags&1 != 0 {
				idx = int(r.u16() & 0x7FFF)
			} else {
				idx = int(r.u8() & 0x7F)
			}
			it.props = append(it.props, idx)
			it.assoc = append(it.assoc, off)
		}
		if r.bad {
			return errHEIF("short ipma box")
		}
	}
	return nil
}

// properties yields the properties associated with item it (ipma), each with its
// position in the item's list; an index that names no property in ipco is skipped.
func (h *heifFile) properties(it *heifItem) iter.Seq2[int, *box] {
	return func(yield func(int, *box) bool) {
		for k, i := range it.props {
			if i >= 1 && i <= len(h.props) && !yield(k, &h.props[i-1]) {
				return
			}
		}
	}
}

// itemSize is an item's size (ispe); ok is false when it has none.
func (h *heifFile) itemSize(it *heifItem) (w, ht int, ok bool) {
	for _, p := range h.properties(it) {
		if p.typ == "ispe" {
			_, _, pb, ok := fullBox(p.body)
			if ok && len(pb) >= 8 {
				return int(binary.BigEndian.Uint32(pb)), int(binary.BigEndian.Uint32(pb[4:])), true
			}
		}
	}
	return 0, 0, false
}

// readPrimary reads the primary item's properties: size, transforms, colour, depth.
func (h *heifFile) readPrimary(idat []byte) error {
	prim := h.items[h.primary]
	if prim == nil || prim.typ == "" {
		return errHEIF("the primary item %d is not described", h.primary)
	}
	w, hh, ok := h.itemSize(prim)
	if !ok {
		return errHEIF("the primary item has no size (ispe)")
	}
	h.width, h.height = w, hh
	for _, p := range h.properties(prim) {
		switch p.typ {
		case "irot":
			if len(p.body) >= 1 {
				h.transforms = append(h.transforms, heifTransform{rotate: int(p.body[0] & 3)})
			}
		case "imir":
			if len(p.body) >= 1 {
				h.transforms = append(h.transforms, heifTransform{rotate: -1, mirror: int(p.body[0] & 1)})
			}
		case "colr":
			if len(p.body) >= 4 && (string(p.body[:4]) == "prof" || string(p.body[:4]) == "rICC") {
				h.icc = p.body[4:]
				h.metadata += int64(len(h.icc))
			}
		}
	}
	coded := prim
	h.tiles = 1
	switch prim.typ {
	case "grid":
		tiles := prim.refs["dimg"]
		if len(tiles) == 0 {
			return errHEIF("grid image without tiles")
		}
		if len(tiles) > maxHEIFTiles {
			return fmt.Errorf("%w: a grid of %d tiles", ErrTooLarge, len(tiles))
		}
		h.tiles = len(tiles)
		coded = h.items[tiles[0]]
		if coded == nil {
			return errHEIF("grid tile %d is not described", tiles[0])
		}
		if prim.idat && len(prim.extents) == 1 {
			desc, ok := extent(idat, prim.extents[0])
			if !ok {
				return errHEIF("grid descriptor outside idat")
			}
			if err := h.checkGrid(desc, len(tiles)); err != nil {
				return err
			}
		}
		h.tileWidth, h.tileHeight, _ = h.itemSize(coded)
	case "hvc1", "av01":
	default:
		return fmt.Errorf("%w: HEIF primary image of type %q (only HEVC and AV1 images are read)", ErrNotImage, prim.typ)
	}
	h.bitDepth = 8
	for _, p := range h.properties(coded) {
		if p.typ == "pixi" {
			if _, _, pb, ok := fullBox(p.body); ok && len(pb) >= 2 {
				h.bitDepth = int(pb[1])
			}
		}
	}
	// The largest thumbnail of the primary, for a small enough target.
	for id, it := range h.items {
		for _, to := range it.refs["thmb"] {
			if to != h.primary || it.typ != coded.typ {
				continue
			}
			if tw, th, ok := h.itemSize(it); ok && tw*th > h.thumbWidth*h.thmbHigh {
				h.thumbnail, h.thumbWidth, h.thmbHigh = id, tw, th
			}
		}
		if it.typ == "Exif" || it.typ == "mime" {
			for _, e := range it.extents {
				h.metadata += int64(min(e[1], 1<<40))
			}
		}
	}
	return nil
}

// checkGrid reads a grid item's descriptor desc (ISO/IEC 23008-12 6.6.2.3) and checks
// that its tiles cover its output.
func (h *heifFile) checkGrid(desc []byte, tiles int) error {
	if len(desc) < 8 {
		return errHEIF("grid descriptor of %d bytes", len(desc))
	}
	r := reader{b: desc}
	r.u8() // version
	wide := r.u8()&1 != 0
	rows, cols := int(r.u8())+1, int(r.u8())+1
	if rows*cols != tiles {
		return errHEIF("a %d×%d grid with %d tiles", rows, cols, tiles)
	}
	var w, hh uint32
	if wide {
		w, hh = r.u32(), r.u32()
	} else {
		w, hh = r.u16(), r.u16()
	}
	if r.bad || int(w) != h.width || int(hh) != h.height {
		return errHEIF("grid output %d×%d, image size %d×%d", w, hh, h.width, h.height)
	}
	h.gridRows, h.gridCols = rows, cols
	return nil
}

// checkExtents checks that every extent of the primary and its tiles lies within the
// first end bytes of the file.
func (h *heifFile) checkExtents(end int64) error {
	ids := []uint32{h.primary}
	if p := h.items[h.primary]; p.typ == "grid" {
		ids = append(ids, p.refs["dimg"]...)
	}
	for _, id := range ids {
		it := h.items[id]
		if it == nil || (it.typ != "grid" && len(it.extents) == 0) {
			return errHEIF("image item %d has no data", id)
		}
		for _, e := range it.extents {
			if !it.idat && e[0]+e[1] > uint64(end) {
				return fmt.Errorf("%w: truncated: image item %d's data ends at byte %d, the file at %d", ErrNotImage, id, e[0]+e[1], end)
			}
		}
	}
	return nil
}

// orientation is the EXIF orientation equal to applying the transforms in order.
func (h *heifFile) orientation() Orientation {
	// Follow the stored image's corners, in unit coordinates (y down), through the
	// transforms to where they are displayed.
	type pt struct{ x, y int }
	shown := map[pt]pt{} // stored corner -> displayed corner
	for _, c := range []pt{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
		p := c
		for _, t := range h.transforms {
			switch {
			case t.rotate < 0 && t.mirror == 0: // top-bottom, as libheif reads axis 0
				p.y = 1 - p.y
			case t.rotate < 0:
				p.x = 1 - p.x
			default:
				for range t.rotate { // a quarter turn anticlockwise
					p = pt{p.y, 1 - p.x}
				}
			}
		}
		shown[c] = p
	}
	for o := Orientation(1); o <= 8; o++ {
		match := true
		for stored, disp := range shown {
			sx, sy := storedAt(o, disp.x, disp.y, 2, 2)
			match = match && (pt{sx, sy}) == stored
		}
		if match {
			return o
		}
	}
	return Normal
}

// sampleCount is the number of samples in the first track's stsz box of a moov box.
func sampleCount(moov []byte) int {
	path := []string{"trak", "mdia", "minf", "stbl", "stsz"}
	b := moov
	for _, name := range path {
		bs, _ := boxes(b, 0)
		found := false
		for _, c := range bs {
			if c.typ == name {
				b, found = c.body, true
				break
			}
		}
		if !found {
			return 0
		}
	}
	if len(b) < 12 {
		return 0
	}
	return int(binary.BigEndian.Uint32(b[8:]))
}

// withPrimary returns a copy of the file whose pitm names item id instead, so a decoder
// that reads only the primary image decodes that one (a thumbnail). ok is false when
// the pitm box cannot be found where parseHEIF found it.
func withPrimary(b []byte, primary, id uint32) ([]byte, bool) {
	for _, wide := range []bool{false, true} {
		var pat []byte
		if wide {
			pat = append([]byte{0, 0, 0, 16}, "pitm\x01\x00\x00\x00"...)
			pat = binary.BigEndian.AppendUint32(pat, primary)
		} else {
			pat = append([]byte{0, 0, 0, 14}, "pitm\x00\x00\x00\x00"...)
			pat = binary.BigEndian.AppendUint16(pat, uint16(primary))
		}
		i := bytes.Index(b, pat)
		if i < 0 {
			continue
		}
		out := bytes.Clone(b)
		if wide {
			binary.BigEndian.PutUint32(out[i+12:], id)
		} else if id <= 0xFFFF {
			binary.BigEndian.PutUint16(out[i+12:], uint16(id))
		} else {
			return nil, false
		}
		return out, true
	}
	return nil, false
}

// withoutTransforms returns a copy of the file in which item id's irot and imir
// properties are renamed to 'free' boxes and their associations made non-essential, so
// a decoder shows the image as stored (the thumbnailer applies the orientation to the
// thumbnail itself, instead of libheif to a second full-size copy of the image).
func (h *heifFile) withoutTransforms(b []byte, id uint32) []byte {
	it := h.items[id]
	if it == nil {
		return b
	}
	var out []byte
	for k, p := range h.properties(it) {
		if k >= len(it.assoc) || (p.typ != "irot" && p.typ != "imir") {
			continue
		}
		if out == nil {
			out = bytes.Clone(b)
		}
		copy(out[p.start+4:p.start+8], "free")
		out[it.assoc[k]] &^= 0x80 // the essential bit leads either width of index
	}
	if out == nil {
		return b
	}
	return out
}

// av1Data returns the coded data of AV1 image item id (its extents in the file, in
// order: AV1 OBUs, a sequence header and a frame). ok is false when this item is not
// one dav1d can decode alone here (see itemData).
func (h *heifFile) av1Data(b []byte, id uint32) (data []byte, ok bool) {
	return h.itemData(b, id, "av01")
}

// hevcData returns the input of libde265 for HEVC image item id: the parameter sets of
// its hvcC property, then the NAL units of its data, each behind a 4-byte length (see
// de265.Decode). ok is false when this item is not one libde265 can decode alone here
// (see itemData), or its hvcC is missing or malformed.
func (h *heifFile) hevcData(b []byte, id uint32) (data []byte, ok bool) {
	coded, ok := h.itemData(b, id, "hvc1")
	if !ok {
		return nil, false
	}
	var hvcC []byte
	for _, p := range h.properties(h.items[id]) {
		if p.typ == "hvcC" {
			hvcC = p.body
		}
	}
	// ISO/IEC 14496-15 8.3.3.1: 22 bytes of profile and format fields (the 22nd holds
	// lengthSizeMinusOne), then the arrays of parameter set NAL units.
	if len(hvcC) < 23 {
		return nil, false
	}
	lenSize := int(hvcC[21]&3) + 1
	if lenSize == 3 {
		return nil, false
	}
	out := make([]byte, 0, len(hvcC)+len(coded)+64)
	r := reader{b: hvcC[23:]}
	for range hvcC[22] {
		r.u8() // completeness and NAL unit type
		for range r.u16() {
			n := int(r.u16())
			if r.bad || n > len(r.b) {
				return nil, false
			}
			out = de265.AppendNAL(out, r.b[:n])
			r.b = r.b[n:]
		}
	}
	if r.bad {
		return nil, false
	}
	for len(coded) > 0 {
		if len(coded) < lenSize {
			return nil, false
		}
		n := 0
		for _, c := range coded[:lenSize] {
			n = n<<8 | int(c)
		}
		coded = coded[lenSize:]
		if n > len(coded) {
			return nil, false
		}
		out = de265.AppendNAL(out, coded[:n])
		coded = coded[n:]
	}
	return out, true
}

// itemData returns the coded data of image item id of type typ: its extents in the
// file, in order. ok is false when this item is not one the planes path decodes alone
// here: it is not of that type, its data is in idat, it has no data, or it has an
// alpha plane the planes path does not compose (more than one, or an AV1 item's; one
// alpha plane of an HEVC item it does: see auxiliary).
func (h *heifFile) itemData(b []byte, id uint32, typ string) (data []byte, ok bool) {
	it := h.items[id]
	if it == nil || it.typ != typ || it.idat || len(it.extents) == 0 {
		return nil, false
	}
	if alpha, twoAlphas := h.auxiliary(id); twoAlphas || (alpha != 0 && typ != "hvc1") {
		return nil, false
	}
	if len(it.extents) == 1 {
		return extent(b, it.extents[0])
	}
	for _, e := range it.extents {
		part, ok := extent(b, e)
		if !ok {
			return nil, false
		}
		data = append(data, part...)
	}
	return data, true
}

// extent is the bytes of extent e (offset, length) of src, the file or idat; ok is
// false when it runs past src's end.
func extent(src []byte, e [2]uint64) ([]byte, bool) {
	if e[0] > uint64(len(src)) || e[1] > uint64(len(src))-e[0] {
		return nil, false
	}
	return src[e[0] : e[0]+e[1] : e[0]+e[1]], true
}

// The auxC URNs of an alpha plane: HEVC's (ISO/IEC 23008-12) and MPEG's CICP one.
const (
	alphaURNHEVC = "urn:mpeg:hevc:2015:auxid:1"
	alphaURNCICP = "urn:mpeg:mpegB:cicp:systems:auxiliary:alpha"
)

// auxiliary reports the alpha plane of item id among its auxiliary images (the items
// whose auxl reference names it, with an auxC naming an alpha URN): alpha is 0 when
// it has none, and twoAlphas is true when it has more than one, which the planes path
// leaves to libheif and libavif. Auxiliary images of any other kind are not part of
// the picture, and a decode of it ignores them as libheif's and libavif's do: depth
// and disparity maps (portrait photos), HDR gain maps (an iPhone's
// urn:com:apple:photo:2020:aux:hdrgainmap, on most of its photos).
func (h *heifFile) auxiliary(id uint32) (alpha uint32, twoAlphas bool) {
	for aux, it := range h.items {
		for _, to := range it.refs["auxl"] {
			if to != id || !h.isAlpha(aux) {
				continue
			}
			if alpha != 0 {
				return 0, true
			}
			alpha = aux
		}
	}
	return alpha, false
}

// isAlpha reports whether item id's auxC property names an alpha plane.
func (h *heifFile) isAlpha(id uint32) bool {
	for _, p := range h.properties(h.items[id]) {
		if p.typ != "auxC" {
			continue
		}
		if _, _, body, ok := fullBox(p.body); ok {
			urn, _, _ := bytes.Cut(body, []byte{0})
			return string(urn) == alphaURNHEVC || string(urn) == alphaURNCICP
		}
	}
	return false
}

// nclx is an item's colour description (ISO/IEC 23008-12 colr of type nclx: ITU-T
// H.273 code points).
type nclx struct {
	primaries, transfer, matrix int
	fullRange                   bool
}

// itemNCLX is item id's nclx colour property; ok is false when it has none.
func (h *heifFile) itemNCLX(id uint32) (c nclx, ok bool) {
	it := h.items[id]
	if it == nil {
		return c, false
	}
	for _, p := range h.properties(it) {
		if p.typ != "colr" || len(p.body) < 11 || string(p.body[:4]) != "nclx" {
			continue
		}
		b := p.body[4:]
		return nclx{
			primaries: int(binary.BigEndian.Uint16(b)),
			transfer:  int(binary.BigEndian.Uint16(b[2:])),
			matrix:    int(binary.BigEndian.Uint16(b[4:])),
			fullRange: b[6]&0x80 != 0,
		}, true
	}
	return c, false
}
