package thumbnail

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
)

// structure is what a walk over a whole file found besides the pixels.
type structure struct {
	// end is the offset just past the image's last byte (EOI, IEND, trailer, RIFF
	// size, last box).
	end int64
	// metadata counts the bytes of metadata segments, chunks, extensions and items.
	metadata int64
	frames   int
	icc      []byte
}

// checkStructure walks the whole file b: it must be complete, carry at most the
// metadata and frames the limits allow, and end where its format says it ends, with
// nothing after it but padding or what cameras append to JPEGs (a second JPEG image
// for MPF or a gain map, a motion photo's video, Samsung's SEF trailer). Anything else
// appended (an archive, a document, a script) makes a polyglot and is refused.
func checkStructure(h Header, b []byte, l Limits) (structure, error) {
	var s structure
	var err error
	switch h.Format {
	case JPEG:
		s, err = walkJPEG(b)
	case PNG:
		s, err = walkPNG(b, l.MaxMetadataBytes)
	case GIF:
		s, err = walkGIF(b)
	case WebP:
		s, err = walkWebP(b)
	case HEIC, AVIF:
		s, err = walkHEIF(h.heif, b)
	}
	if err != nil {
		return s, err
	}
	if l.MaxMetadataBytes > 0 && s.metadata > l.MaxMetadataBytes {
		return s, fmt.Errorf("%w: %d bytes of metadata, over the limit of %d", ErrTooLarge, s.metadata, l.MaxMetadataBytes)
	}
	if l.MaxFrames > 0 && s.frames > l.MaxFrames {
		return s, fmt.Errorf("%w: %d frames, over the limit of %d", ErrTooLarge, s.frames, l.MaxFrames)
	}
	if z := zipEnd(b); z >= 0 {
		return s, fmt.Errorf("%w: the file is also a ZIP archive (its directory ends the file): a polyglot", ErrNotImage)
	}
	rest := b[min(s.end, int64(len(b))):]
	if padding(rest) || h.Format == JPEG && cameraTrailer(rest) {
		return s, nil
	}
	what := "data"
	switch t := bytes.TrimLeft(rest, " \t\r\n"); {
	case bytes.HasPrefix(t, []byte("#!")), bytes.HasPrefix(t, []byte("<?php")):
		what = "a script"
	case bytes.HasPrefix(t, []byte("<")):
		what = "markup (HTML, SVG or XML)"
	case bytes.HasPrefix(t, []byte("%PDF")):
		what = "a PDF document"
	}
	return s, fmt.Errorf("%w: %d bytes of %s follow the end of the %s image: a polyglot", ErrNotImage, len(rest), what, h.Format)
}

// padding reports whether b is empty or only zeros or 0xFF bytes.
func padding(b []byte) bool {
	for _, c := range b {
		if c != 0 && c != 0xFF {
			return false
		}
	}
	return true
}

// cameraTrailer reports whether what follows a JPEG's EOI is something phones append:
// another JPEG (MPF secondary images, Ultra HDR gain maps), an MP4 (motion photos), or
// Samsung's SEF trailer, which ends the file with "SEFT".
func cameraTrailer(b []byte) bool {
	return bytes.HasPrefix(b, []byte{0xFF, 0xD8, 0xFF}) ||
		len(b) >= 8 && string(b[4:8]) == "ftyp" ||
		bytes.HasSuffix(b, []byte("SEFT"))
}

// zipEnd is the offset of a ZIP end-of-central-directory record that ends b exactly
// (its comment length reaching the last byte), or -1: what makes a file readable as an
// archive whatever precedes it.
func zipEnd(b []byte) int {
	const eocd = 22
	for i := len(b) - eocd; i >= 0 && i >= len(b)-eocd-0xFFFF; i-- {
		if b[i] == 'P' && b[i+1] == 'K' && b[i+2] == 5 && b[i+3] == 6 &&
			int(binary.LittleEndian.Uint16(b[i+20:])) == len(b)-i-eocd {
			return i
		}
	}
	return -1
}

func truncated(format, what string) error {
	return fmt.Errorf("%w: truncated: the file ends %s of the %s image", ErrNotImage, what, format)
}

// walkJPEG follows the markers to EOI, skipping entropy-coded data.
func walkJPEG(b []byte) (structure, error) {
	var s structure
	icc := map[byte][]byte{}
	pos := 2
	for {
		if pos+2 > len(b) {
			return s, truncated("JPEG", "before the end-of-image marker")
		}
		if b[pos] != 0xFF {
			return s, fmt.Errorf("%w: JPEG: expected a marker at byte %d", ErrNotImage, pos)
		}
		m := b[pos+1]
		switch {
		case m == 0xFF:
			pos++
			continue
		case m == 0xD9:
			s.end = int64(pos + 2)
			s.icc = joinICC(icc)
			return s, nil
		case m == 0x01 || m >= 0xD0 && m <= 0xD7:
			pos += 2
			continue
		}
		if pos+4 > len(b) {
			return s, truncated("JPEG", "inside a marker")
		}
		n := int(binary.BigEndian.Uint16(b[pos+2:]))
		if n < 2 || pos+2+n > len(b) {
			return s, truncated("JPEG", "inside a segment")
		}
		seg := b[pos+4 : pos+2+n]
		if m >= 0xE0 && m <= 0xEF || m == 0xFE {
			s.metadata += int64(n + 2)
			if m == 0xE2 && len(seg) > 14 && string(seg[:12]) == "ICC_PROFILE\x00" {
				icc[seg[12]] = seg[14:]
			}
		}
		pos += 2 + n
		if m == 0xDA {
			// Entropy-coded data runs to the next marker other than RSTn.
			for {
				i := bytes.IndexByte(b[pos:], 0xFF)
				if i < 0 || pos+i+1 >= len(b) {
					return s, truncated("JPEG", "inside the image data")
				}
				pos += i
				if c := b[pos+1]; c != 0 && c != 0xFF && (c < 0xD0 || c > 0xD7) {
					break
				}
				pos++
			}
		}
	}
}

// joinICC concatenates ICC_PROFILE chunks in sequence order.
func joinICC(chunks map[byte][]byte) []byte {
	if len(chunks) == 0 {
		return nil
	}
	keys := make([]int, 0, len(chunks))
	for k := range chunks {
		keys = append(keys, int(k))
	}
	sort.Ints(keys)
	var out []byte
	for _, k := range keys {
		out = append(out, chunks[byte(k)]...)
	}
	return out
}

// pngDecoding are the chunks the decoder reads besides IHDR, PLTE, IDAT and IEND; any
// other ancillary chunk is metadata.
var pngDecoding = map[string]bool{"tRNS": true, "gAMA": true, "cHRM": true, "sRGB": true, "sBIT": true, "bKGD": true, "pHYs": true, "hIST": true, "acTL": true, "fcTL": true, "fdAT": true}

// walkPNG follows the chunks to IEND.
func walkPNG(b []byte, maxMeta int64) (structure, error) {
	var s structure
	for i := len(pngSignature); ; {
		if i+12 > len(b) {
			return s, truncated("PNG", "before the IEND chunk")
		}
		n := int64(binary.BigEndian.Uint32(b[i:]))
		typ := string(b[i+4 : i+8])
		if n > int64(len(b)-i-12) {
			return s, truncated("PNG", "inside the "+fmt.Sprintf("%q", typ)+" chunk")
		}
		data := b[i+8 : i+8+int(n)]
		switch {
		case typ == "IEND":
			s.end = int64(i) + 12 + n
			return s, nil
		case typ == "acTL" && n >= 4:
			s.frames = int(binary.BigEndian.Uint32(data))
		case typ == "iCCP":
			s.metadata += n + 12
			if z := bytes.IndexByte(data, 0); z >= 0 && z+2 <= len(data) {
				r, err := zlib.NewReader(bytes.NewReader(data[z+2:]))
				if err == nil {
					limit := max(maxMeta, 1<<20)
					s.icc, _ = io.ReadAll(io.LimitReader(r, limit))
				}
			}
		case typ[0] >= 'a' && typ[0] <= 'z' && !pngDecoding[typ]:
			s.metadata += n + 12
		}
		i += 12 + int(n)
	}
}

// walkGIF follows the blocks to the trailer, counting frames.
func walkGIF(b []byte) (structure, error) {
	var s structure
	if len(b) < 13 {
		return s, truncated("GIF", "inside the header")
	}
	pos := 13
	if b[10]&0x80 != 0 {
		pos += 3 << (b[10]&7 + 1)
	}
	subBlocks := func() (int, bool) {
		total := 0
		for {
			if pos >= len(b) {
				return total, false
			}
			n := int(b[pos])
			pos++
			if n == 0 {
				return total, true
			}
			pos += n
			total += n
		}
	}
	for {
		if pos >= len(b) {
			if s.frames > 0 {
				// Many writers leave out the trailer after the last frame.
				s.end = int64(len(b))
				return s, nil
			}
			return s, truncated("GIF", "before its first frame")
		}
		switch b[pos] {
		case 0x3B:
			s.end = int64(pos + 1)
			return s, nil
		case 0x21:
			if pos+2 > len(b) {
				return s, truncated("GIF", "inside an extension")
			}
			label := b[pos+1]
			pos += 2
			n, ok := subBlocks()
			if !ok {
				return s, truncated("GIF", "inside an extension")
			}
			if label != 0xF9 {
				s.metadata += int64(n)
			}
		case 0x2C:
			if pos+10 > len(b) {
				return s, truncated("GIF", "inside an image descriptor")
			}
			flags := b[pos+9]
			pos += 10
			if flags&0x80 != 0 {
				pos += 3 << (flags&7 + 1)
			}
			pos++ // LZW minimum code size
			if _, ok := subBlocks(); !ok {
				if s.frames > 0 {
					s.end = int64(len(b))
					return s, nil
				}
				return s, truncated("GIF", "inside its first frame")
			}
			s.frames++
		default:
			return s, fmt.Errorf("%w: GIF: unknown block 0x%02X at byte %d", ErrNotImage, b[pos], pos)
		}
	}
}

// walkWebP checks the RIFF size and reads the chunks.
func walkWebP(b []byte) (structure, error) {
	var s structure
	size := int64(binary.LittleEndian.Uint32(b[4:]))
	s.end = 8 + size + size&1
	if 8+size > int64(len(b)) {
		return s, truncated("WebP", fmt.Sprintf("at byte %d, before the %d bytes its RIFF header announces", len(b), 8+size))
	}
	for i := int64(12); i+8 <= 8+size; {
		n := int64(binary.LittleEndian.Uint32(b[i+4:]))
		fcc := string(b[i : i+4])
		if i+8+n > 8+size {
			return s, truncated("WebP", "inside the "+fmt.Sprintf("%q", fcc)+" chunk")
		}
		switch fcc {
		case "ICCP":
			s.icc = b[i+8 : i+8+n]
			s.metadata += n + 8
		case "EXIF", "XMP ":
			s.metadata += n + 8
		case "ANMF":
			s.frames++
		case "VP8 ", "VP8L", "VP8X", "ALPH", "ANIM":
		default:
			s.metadata += n + 8
		}
		i += 8 + n + n&1
	}
	if s.frames > 0 {
		return s, fmt.Errorf("%w: an animated WebP (%d frames): upload a still image or a GIF", ErrNotImage, s.frames)
	}
	return s, nil
}

// walkHEIF checks that the top-level boxes cover the file and that the image's data
// lies within it.
func walkHEIF(hf *heifFile, b []byte) (structure, error) {
	s := structure{metadata: hf.metadata, frames: hf.frames, icc: hf.icc}
	top, err := boxes(b, 0)
	if len(top) > 0 {
		s.end = top[len(top)-1].end
	}
	if err != nil && len(b)-int(s.end) >= 8 {
		// What follows the last whole box claims to be a box and runs past the end.
		return s, fmt.Errorf("%w: truncated, or data appended: %v", ErrNotImage, err)
	}
	return s, hf.checkExtents(s.end)
}
