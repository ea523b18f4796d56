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

// AppendNAL appends one NAL unit to the input of Decode.
func AppendNAL(dst, nal []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(nal)))
	return append(dst, nal...)
}
