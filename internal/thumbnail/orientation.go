package thumbnail

import (
	"bytes"
	"encoding/binary"
)

// Orientation is the EXIF Orientation tag (0x0112): how the stored pixels must be
// transformed to be displayed upright. 1 is "as stored"; 2..8 mirror and/or rotate.
type Orientation int

// Normal is the orientation of an image with no EXIF, or whose EXIF says 1.
const Normal Orientation = 1

// swapsAxes reports whether displaying the image upright swaps its width and height
// (orientations 5..8 rotate by 90 degrees).
func (o Orientation) swapsAxes() bool { return o >= 5 && o <= 8 }

// orientationOf finds the EXIF orientation of an encoded image of the given format,
// returning Normal when there is none or it cannot be read. It never fails: a broken
// EXIF block is ignored, as browsers ignore it.
func orientationOf(format Format, data []byte) Orientation {
	var tiff []byte
	switch format {
	case JPEG:
		tiff = jpegEXIF(data)
	case PNG:
		tiff = pngEXIF(data)
	case WebP:
		tiff = webpEXIF(data)
	}
	return tiffOrientation(tiff)
}

// exifHeader starts the payload of a JPEG APP1 EXIF segment (and, by habit of some
// writers, of WebP EXIF chunks).
var exifHeader = []byte("Exif\x00\x00")

// jpegEXIF returns the TIFF block of the first APP1 EXIF segment before the first scan.
func jpegEXIF(b []byte) []byte {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return nil
	}
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xFF {
			return nil
		}
		marker := b[i+1]
		switch {
		case marker == 0xFF: // fill byte
			i++
			continue
		case marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7): // no length
			i += 2
			continue
		case marker == 0xDA || marker == 0xD9: // start of scan, end of image
			return nil
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return nil
		}
		seg := b[i+4 : i+2+n]
		if marker == 0xE1 && bytes.HasPrefix(seg, exifHeader) {
			return seg[len(exifHeader):]
		}
		i += 2 + n
	}
	return nil
}

// pngSignature starts every PNG file.
var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// pngEXIF returns the payload of the eXIf chunk.
func pngEXIF(b []byte) []byte {
	if !bytes.HasPrefix(b, pngSignature) {
		return nil
	}
	for i := len(pngSignature); i+8 <= len(b); {
		n := int(binary.BigEndian.Uint32(b[i:]))
		typ := string(b[i+4 : i+8])
		if n < 0 || n > len(b)-i-12 {
			return nil
		}
		if typ == "eXIf" {
			return b[i+8 : i+8+n]
		}
		if typ == "IEND" {
			return nil
		}
		i += 12 + n
	}
	return nil
}

// webpEXIF returns the payload of the EXIF chunk of an extended WebP file.
func webpEXIF(b []byte) []byte {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WEBP" {
		return nil
	}
	for i := 12; i+8 <= len(b); {
		n := int(binary.LittleEndian.Uint32(b[i+4:]))
		if n < 0 || n > len(b)-i-8 {
			return nil
		}
		if string(b[i:i+4]) == "EXIF" {
			return bytes.TrimPrefix(b[i+8:i+8+n], exifHeader)
		}
		i += 8 + n + n&1
	}
	return nil
}

// tiffOrientation reads tag 0x0112 from IFD0 of a TIFF block, or Normal.
func tiffOrientation(t []byte) Orientation {
	if len(t) < 8 {
		return Normal
	}
	var bo binary.ByteOrder
	switch string(t[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return Normal
	}
	ifd := int64(bo.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > int64(len(t)) {
		return Normal
	}
	count := int64(bo.Uint16(t[ifd:]))
	for k := int64(0); k < count; k++ {
		e := ifd + 2 + 12*k
		if e+12 > int64(len(t)) {
			return Normal
		}
		if bo.Uint16(t[e:]) != 0x0112 {
			continue
		}
		// Type SHORT (3), count 1: the value sits in the first two bytes of the value field.
		if bo.Uint16(t[e+2:]) != 3 || bo.Uint32(t[e+4:]) != 1 {
			return Normal
		}
		if v := Orientation(bo.Uint16(t[e+8:])); v >= 1 && v <= 8 {
			return v
		}
		return Normal
	}
	return Normal
}
