// Package dav1d decodes AV1 still images (the coded data of an AVIF item) with dav1d,
// the VideoLAN AV1 decoder, compiled to WebAssembly and run by wazero (through package
// planar): no cgo, and several times faster than libaom's decoder in the same setting.
// The module is built by hack/build-dav1d-wasm.sh (see README.md); the decoder runs
// single-threaded, one module instance per picture, so concurrent calls are
// independent.
package dav1d

import (
	_ "embed" // the module
	"errors"
	"fmt"

	"github.com/serverless-architect/serverless-architect/internal/thumbnail/planar"
)

//go:embed dav1d.wasm.gz
var moduleGz []byte

// Layout is the chroma subsampling of a picture.
type Layout = planar.Layout

// The layouts, numbered as dav1d's Dav1dPixelLayout.
const (
	Layout400 = planar.Layout400 // luma only
	Layout420 = planar.Layout420
	Layout422 = planar.Layout422
	Layout444 = planar.Layout444
)

// Picture is a decoded frame; see planar.Picture.
type Picture = planar.Picture

// ErrDecode is wrapped by every failure of the decoder on the data given.
var ErrDecode = errors.New("dav1d")

var module = planar.NewModule("dav1d", moduleGz, ErrDecode, func(code int32) string {
	if code == -1 {
		return "the data holds no picture"
	}
	return fmt.Sprintf("error %d (negative errno)", code)
})

// Init compiles the WebAssembly module ahead of the first picture (a few hundred
// milliseconds), so that picture does not wait for it.
func Init() error { return module.Init() }

// Decode decodes the AV1 OBUs of one still image (an AVIF item's data: a sequence
// header and one frame) and calls fn with the picture. A picture of more than maxPixels
// pixels is refused before its planes are allocated.
func Decode(obus []byte, maxPixels int, fn func(*Picture) error) error {
	return module.Decode(obus, maxPixels, fn)
}

// NewDecoder returns a decoder that keeps one module instance from picture to picture
// (a grid's tiles, one after another); see planar.Decoder. Close frees it.
func NewDecoder() *planar.Decoder { return module.NewDecoder() }
