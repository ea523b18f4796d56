// Package de265 decodes HEVC still images (the coded data of an HEIC item) with
// libde265 compiled to WebAssembly and run by wazero (through package planar): no cgo,
// and the caller decodes a grid's tiles in parallel, one module instance each. The
// module is built by hack/build-libde265-wasm.sh (see README.md); it is a separate
// LGPL-3.0 work, loaded at run time. The decoder runs single-threaded, one module
// instance per picture, so concurrent calls are independent.
package de265

import (
	_ "embed" // the module
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/serverless-architect/serverless-architect/internal/thumbnail/planar"
)

//go:embed de265.wasm.gz
var moduleGz []byte

// ErrDecode is wrapped by every failure of the decoder on the data given.
var ErrDecode = errors.New("libde265")

var module = planar.NewModule("libde265", moduleGz, ErrDecode, func(code int32) string {
	switch code {
	case -1:
		return "the data holds no picture"
	case -2:
		return "a NAL unit's length runs past the data"
	case -3:
		return "luma and chroma of different bit depths"
	case -4:
		return "the picture is larger than the pixel limit"
	}
	return fmt.Sprintf("de265_error %d", code)
})

// Init compiles the WebAssembly module ahead of the first picture (a few hundred
// milliseconds), so that picture does not wait for it.
func Init() error { return module.Init() }

// Decode decodes one HEVC still image and calls fn with the picture. nals is the NAL
// units in decoding order (the parameter sets first), each behind a 4-byte big-endian
// length, as AppendNAL writes them. A picture of more than maxPixels pixels is refused
// before its planes are allocated.
func Decode(nals []byte, maxPixels int, fn func(*planar.Picture) error) error {
	return module.Decode(nals, maxPixels, fn)
}

// Options are settings of a Decoder.
type Options struct {
	// SkipLoopFilters decodes without deblocking and SAO. Only for intra pictures (see
	// Intra), and only where the picture is shrunk enough to average the filtering
	// away: HEVC predicts an intra block from its neighbours' samples before the
	// in-loop filters, so skipping them leaves every sample as coded and changes only
	// the smoothing across block edges.
	SkipLoopFilters bool
}

// NewDecoder returns a decoder that keeps one module instance from picture to picture
// (a grid's tiles, one after another); see planar.Decoder. Close frees it.
func NewDecoder(o Options) *planar.Decoder {
	skip := uint64(0)
	if o.SkipLoopFilters {
		skip = 1
	}
	return module.NewDecoder(planar.Setup{Name: "sa_skip_filters", Args: []uint64{skip}})
}

// Intra reports whether every coded slice in nals (the input of Decode) belongs to an
// intra random access point picture (NAL unit types 16 to 23: BLA, IDR, CRA), whose
// slices are all intra-coded, so no picture is predicted from another one's samples.
func Intra(nals []byte) bool {
	coded := false
	for len(nals) >= 4 {
		n := binary.BigEndian.Uint32(nals)
		nals = nals[4:]
		if n < 2 || uint64(n) > uint64(len(nals)) {
			return false
		}
		switch typ := nals[0] >> 1 & 0x3f; {
		case typ < 16 || typ >= 24 && typ < 32: // a coded slice of a non-IRAP picture, or reserved
			return false
		case typ < 24:
			coded = true
		}
		nals = nals[n:]
	}
	return coded && len(nals) == 0
}

// AppendNAL appends one NAL unit to the input of Decode.
func AppendNAL(dst, nal []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(nal)))
	return append(dst, nal...)
}
