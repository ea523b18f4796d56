// Package dav1d decodes AV1 still images (the coded data of an AVIF item) with dav1d,
// the VideoLAN AV1 decoder, compiled to WebAssembly and run by wazero: no cgo, and
// several times faster than libaom's decoder in the same setting. The module is built
// by hack/build-dav1d-wasm.sh (see README.md); the decoder runs single-threaded, one
// module instance per picture, so concurrent calls are independent.
package dav1d

import (
	"bytes"
	"compress/gzip"
	"context"
	_ "embed" // the module
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

//go:embed dav1d.wasm.gz
var moduleGz []byte

// Layout is the chroma subsampling of a picture.
type Layout int

// The layouts, numbered as dav1d's Dav1dPixelLayout.
const (
	Layout400 Layout = iota // luma only
	Layout420
	Layout422
	Layout444
)

// Picture is a decoded frame. Its planes are views into the decoder's memory, valid
// only during the call that receives them.
type Picture struct {
	Width, Height int
	// BitDepth is 8, 10 or 12; above 8 each sample is two bytes, little-endian.
	BitDepth int
	Layout   Layout
	// Y, Cb and Cr are the planes (Cb and Cr empty for Layout400); rows are YStride and
	// CStride bytes apart.
	Y, Cb, Cr        []byte
	YStride, CStride int
	// The colour description of the sequence header (ITU-T H.273 code points), for a
	// file whose container gives none.
	Matrix, Primaries, Transfer int
	FullRange                   bool
}

// ErrDecode is wrapped by every failure of the decoder on the data given.
var ErrDecode = errors.New("dav1d")

// maxMemoryPages bounds a module instance's linear memory (64 KiB pages): 1 GiB, more
// than any picture the frame-size limit lets through needs.
const maxMemoryPages = 1 << 14

type module struct {
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	config   wazero.ModuleConfig
}

// load compiles the module once, on first use (or in Init).
var load = sync.OnceValues(func() (*module, error) {
	ctx := context.Background()
	zr, err := gzip.NewReader(bytes.NewReader(moduleGz))
	if err != nil {
		return nil, fmt.Errorf("dav1d module: %w", err)
	}
	wasm, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("dav1d module: %w", err)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithMemoryLimitPages(maxMemoryPages))
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	compiled, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		return nil, fmt.Errorf("dav1d module: compile: %w", err)
	}
	// A reactor: _initialize sets up the C library; nothing is written to stdout or
	// stderr (logging is compiled out), and instances are anonymous.
	cfg := wazero.NewModuleConfig().WithStartFunctions("_initialize").WithName("")
	return &module{rt: rt, compiled: compiled, config: cfg}, nil
})

// Init compiles the WebAssembly module ahead of the first picture (a few hundred
// milliseconds), so that picture does not wait for it.
func Init() error {
	_, err := load()
	return err
}

// Decode decodes the AV1 OBUs of one still image (an AVIF item's data: a sequence
// header and one frame) and calls fn with the picture. A picture of more than maxPixels
// pixels is refused before its planes are allocated.
func Decode(obus []byte, maxPixels int, fn func(*Picture) error) error {
	m, err := load()
	if err != nil {
		return err
	}
	ctx := context.Background()
	inst, err := m.rt.InstantiateModule(ctx, m.compiled, m.config)
	if err != nil {
		return fmt.Errorf("dav1d module: instantiate: %w", err)
	}
	defer func() { _ = inst.Close(ctx) }() // frees the instance's memory; nothing to report
	call := func(name string, args ...uint64) (uint64, error) {
		f := inst.ExportedFunction(name)
		if f == nil {
			return 0, fmt.Errorf("dav1d module: no function %s", name)
		}
		r, err := f.Call(ctx, args...)
		if err != nil {
			return 0, fmt.Errorf("%w: %s: %v", ErrDecode, name, err)
		}
		if len(r) == 0 {
			return 0, nil
		}
		return r[0], nil
	}
	mem := inst.Memory()
	ptr, err := call("sa_alloc", uint64(len(obus)))
	if err != nil {
		return err
	}
	if ptr == 0 || !mem.Write(uint32(ptr), obus) {
		return fmt.Errorf("%w: no memory for %d bytes of input", ErrDecode, len(obus))
	}
	// sa_decode takes the input over and frees it.
	res, err := call("sa_decode", ptr, uint64(len(obus)), uint64(max(0, maxPixels)))
	if err != nil {
		return err
	}
	if code := int32(res); code != 0 {
		if code == -1 {
			return fmt.Errorf("%w: the data holds no picture", ErrDecode)
		}
		return fmt.Errorf("%w: error %d (negative errno)", ErrDecode, code)
	}
	infoPtr, err := call("sa_info")
	if err != nil {
		return err
	}
	raw, ok := mem.Read(uint32(infoPtr), 13*4)
	if !ok {
		return fmt.Errorf("%w: picture description out of memory bounds", ErrDecode)
	}
	info := func(i int) int { return int(int32(le32(raw[4*i:]))) }
	p := &Picture{
		Width: info(0), Height: info(1), BitDepth: info(2), Layout: Layout(info(3)),
		YStride: info(7), CStride: info(8),
		Matrix: info(9), FullRange: info(10) != 0, Primaries: info(11), Transfer: info(12),
	}
	bps := 1
	if p.BitDepth > 8 {
		bps = 2
	}
	cw, ch := p.Width, p.Height
	switch p.Layout {
	case Layout420:
		cw, ch = (cw+1)/2, (ch+1)/2
	case Layout422:
		cw = (cw + 1) / 2
	}
	plane := func(at, stride, w, h int) ([]byte, bool) {
		if w == 0 || h == 0 {
			return nil, true
		}
		if stride < w*bps || at <= 0 {
			return nil, false
		}
		return view(mem, at, stride*(h-1)+w*bps)
	}
	var okY, okCb, okCr bool
	p.Y, okY = plane(info(4), p.YStride, p.Width, p.Height)
	okCb, okCr = true, true
	if p.Layout != Layout400 {
		p.Cb, okCb = plane(info(5), p.CStride, cw, ch)
		p.Cr, okCr = plane(info(6), p.CStride, cw, ch)
	}
	if !okY || !okCb || !okCr || p.Width <= 0 || p.Height <= 0 {
		return fmt.Errorf("%w: picture %d×%d with planes outside memory", ErrDecode, p.Width, p.Height)
	}
	return fn(p)
}

// view is n bytes of the module's memory at offset at, without copying.
func view(mem api.Memory, at, n int) ([]byte, bool) {
	return mem.Read(uint32(at), uint32(n))
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
