package thumbnail

import (
	"bytes"
	"encoding/binary"
	"unicode/utf16"
)

// taggedProfile is the ICC profile to carry into the thumbnails: nil for none, for a
// profile that describes itself as sRGB (what an untagged image is taken to be), and
// for one that is not an ICC profile at all.
func taggedProfile(icc []byte) []byte {
	if len(icc) < 132 || string(icc[36:40]) != "acsp" {
		return nil
	}
	if bytes.Contains([]byte(profileDescription(icc)), []byte("sRGB")) {
		return nil
	}
	return icc
}

// profileDescription reads the 'desc' tag of an ICC profile (v2 textDescriptionType or
// v4 multiLocalizedUnicodeType, first record), or "".
func profileDescription(icc []byte) string {
	n := int(binary.BigEndian.Uint32(icc[128:]))
	for i := range min(n, 1000) {
		e := 132 + 12*i
		if e+12 > len(icc) {
			return ""
		}
		if string(icc[e:e+4]) != "desc" {
			continue
		}
		off, size := int(binary.BigEndian.Uint32(icc[e+4:])), int(binary.BigEndian.Uint32(icc[e+8:]))
		if off < 0 || size < 12 || off+size > len(icc) || off+size < off {
			return ""
		}
		t := icc[off : off+size]
		switch string(t[:4]) {
		case "desc":
			l := int(binary.BigEndian.Uint32(t[8:]))
			if l < 0 || 12+l > len(t) {
				return ""
			}
			return string(bytes.TrimRight(t[12:12+l], "\x00"))
		case "mluc":
			if len(t) < 28 {
				return ""
			}
			l, o := int(binary.BigEndian.Uint32(t[20:])), int(binary.BigEndian.Uint32(t[24:]))
			if o < 0 || l < 0 || o+l > len(t) || o+l < o {
				return ""
			}
			u := make([]uint16, l/2)
			for k := range u {
				u[k] = binary.BigEndian.Uint16(t[o+2*k:])
			}
			return string(utf16.Decode(u))
		}
		return ""
	}
	return ""
}

// withJPEGProfile inserts icc into a JPEG as APP2 ICC_PROFILE segments after SOI.
func withJPEGProfile(jpg, icc []byte) []byte {
	if len(icc) == 0 || len(jpg) < 2 {
		return jpg
	}
	const chunk = 65535 - 2 - 14
	count := (len(icc) + chunk - 1) / chunk
	if count > 255 {
		return jpg
	}
	out := make([]byte, 0, len(jpg)+len(icc)+18*count)
	out = append(out, jpg[:2]...)
	for i := range count {
		part := icc[i*chunk : min(len(icc), (i+1)*chunk)]
		out = append(out, 0xFF, 0xE2)
		out = binary.BigEndian.AppendUint16(out, uint16(2+14+len(part)))
		out = append(out, "ICC_PROFILE\x00"...)
		out = append(out, byte(i+1), byte(count))
		out = append(out, part...)
	}
	return append(out, jpg[2:]...)
}

// withWebPProfile rewraps a simple (VP8 or VP8L) WebP file in the extended format with
// an ICCP chunk.
func withWebPProfile(wp, icc []byte, w, h int) []byte {
	if len(icc) == 0 || len(wp) < 20 || string(wp[12:15]) != "VP8" || wp[15] == 'X' {
		return wp
	}
	chunk := func(fcc string, data []byte) []byte {
		c := append([]byte(fcc), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
		c = append(c, data...)
		if len(data)%2 == 1 {
			c = append(c, 0)
		}
		return c
	}
	vp8x := make([]byte, 10)
	vp8x[0] = 0x20 // ICC profile present
	put24 := func(b []byte, v int) { b[0], b[1], b[2] = byte(v), byte(v>>8), byte(v>>16) }
	put24(vp8x[4:], w-1)
	put24(vp8x[7:], h-1)
	body := append([]byte("WEBP"), chunk("VP8X", vp8x)...)
	body = append(body, chunk("ICCP", icc)...)
	body = append(body, wp[12:]...)
	out := append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...)
	return append(out, body...)
}
