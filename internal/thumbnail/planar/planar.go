// Package planar runs the thumbnailer's WebAssembly still-image decoders (dav1d for AV1,
// libde265 for HEVC) under wazero and hands back the decoded Y, Cb and Cr planes as
// views of the module's memory. Each module exports the same entry points (sa_alloc,
// sa_decode, sa_info, sa_release; see internal/thumbnail/dav1d/csrc/glue.c) and
// describes its picture in the same 13 words, so one reader serves both. A picture is
// decoded in a module instance of its own, single-threaded: concurrent calls are
// independent.
package planar

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// Layout is the chroma subsampling of a picture.
type Layout int

// The layouts, numbered as dav1d's Dav1dPixelLayout and libde265's de265_chroma (the
// same order).
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
	// BitDepth is 8 to 16; above 8 each sample is two bytes, little-endian.
	BitDepth int
	Layout   Layout
	// Y, Cb and Cr are the planes (Cb and Cr empty for Layout400); rows are YStride and
	// CStride bytes apart.
	Y, Cb, Cr        []byte
	YStride, CStride int
	// The colour description of the coded stream (ITU-T H.273 code points: AV1's
	// sequence header, HEVC's VUI), for a file whose container gives none.
	Matrix, Primaries, Transfer int
	FullRange                   bool
}

// maxMemoryPages bounds a module instance's linear memory (64 KiB pages): 1 GiB, more
// than any picture the decoders' size limits let through needs.
const maxMemoryPages = 1 << 14

// infoWords is the length of the picture description sa_info points to.
const infoWords = 13

// Module is one decoder module, compiled on first use.
type Module struct {
	name string
	err  error
	// describe turns a non-zero result of sa_decode into words for an error.
	describe func(code int32) string
	load     func() (*compiled, error)
}

type compiled struct {
	rt     wazero.Runtime
	module wazero.CompiledModule
	config wazero.ModuleConfig
}

// NewModule describes the gzip-compressed WebAssembly module gz, called name in errors.
// Decoder failures wrap errDecode; describe words the codes sa_decode returns.
func NewModule(name string, gz []byte, errDecode error, describe func(code int32) string) *Module {
	m := &Module{name: name, err: errDecode, describe: describe}
	m.load = sync.OnceValues(func() (*compiled, error) {
		ctx := context.Background()
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			return nil, fmt.Errorf("%s module: %w", name, err)
		}
		wasm, err := io.ReadAll(zr)
		if err != nil {
			return nil, fmt.Errorf("%s module: %w", name, err)
		}
		rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithMemoryLimitPages(maxMemoryPages))
		wasi_snapshot_preview1.MustInstantiate(ctx, rt)
		cm, err := rt.CompileModule(ctx, wasm)
		if err != nil {
			return nil, fmt.Errorf("%s module: compile: %w", name, err)
		}
		// A reactor: _initialize sets up the C library; nothing is written to stdout or
		// stderr, and instances are anonymous.
		cfg := wazero.NewModuleConfig().WithStartFunctions("_initialize").WithName("")
		return &compiled{rt: rt, module: cm, config: cfg}, nil
	})
	return m
}

// Init compiles the module ahead of the first picture (a few hundred milliseconds), so
// that picture does not wait for it.
func (m *Module) Init() error {
	_, err := m.load()
	return err
}

// Decode decodes one still image from data (what the module's sa_decode takes) in a
// fresh module instance and calls fn with the picture. A picture of more than maxPixels
// pixels is refused by the module before its planes are allocated.
func (m *Module) Decode(data []byte, maxPixels int, fn func(*Picture) error) error {
	d := m.NewDecoder()
	defer d.Close()
	return d.Decode(data, maxPixels, fn)
}

// Decoder decodes pictures one after another in one module instance, so a grid's
// tiles after the first find the instance's memory already grown (growing it copies
// the whole of it on the Go heap) and skip instantiation. It is not safe for
// concurrent use: a grid keeps one Decoder per worker. Close frees its memory.
type Decoder struct {
	m     *Module
	setup []Setup
	inst  api.Module
}

// Setup is a call of one of the module's exported functions (a decoder setting, such
// as libde265's sa_skip_filters) that a Decoder makes on each new instance before its
// first picture.
type Setup struct {
	Name string
	Args []uint64
}

// NewDecoder returns a Decoder of module m; its instance is made at the first Decode,
// and set up with the calls in setup.
func (m *Module) NewDecoder(setup ...Setup) *Decoder { return &Decoder{m: m, setup: setup} }

// Close frees the instance and its memory; the Decoder makes a new one if used again.
func (d *Decoder) Close() {
	if d.inst != nil {
		_ = d.inst.Close(context.Background()) // frees the instance's memory; nothing to report
		d.inst = nil
	}
}

// Decode decodes one still image from data (what the module's sa_decode takes) and
// calls fn with the picture, whose planes stay valid until fn returns. A picture of
// more than maxPixels pixels is refused by the module before its planes are
// allocated. After a trap (a decoder fault, its state unknown) the instance is closed
// and the next picture gets a fresh one.
func (d *Decoder) Decode(data []byte, maxPixels int, fn func(*Picture) error) error {
	m := d.m
	c, err := m.load()
	if err != nil {
		return err
	}
	ctx := context.Background()
	fresh := d.inst == nil
	if fresh {
		if d.inst, err = c.rt.InstantiateModule(ctx, c.module, c.config); err != nil {
			d.inst = nil
			return fmt.Errorf("%s module: instantiate: %w", m.name, err)
		}
	}
	inst := d.inst
	call := func(name string, args ...uint64) (uint64, error) {
		if d.inst == nil {
			return 0, fmt.Errorf("%s module: the instance was closed after a fault", m.name)
		}
		f := inst.ExportedFunction(name)
		if f == nil {
			return 0, fmt.Errorf("%s module: no function %s", m.name, name)
		}
		r, err := f.Call(ctx, args...)
		if err != nil {
			d.Close()
			return 0, fmt.Errorf("%w: %s: %v", m.err, name, err)
		}
		if len(r) == 0 {
			return 0, nil
		}
		return r[0], nil
	}
	if fresh {
		for _, st := range d.setup {
			if _, err := call(st.Name, st.Args...); err != nil {
				return err
			}
		}
	}
	mem := inst.Memory()
	ptr, err := call("sa_alloc", uint64(len(data)))
	if err != nil {
		return err
	}
	if ptr == 0 || !mem.Write(uint32(ptr), data) {
		return fmt.Errorf("%w: no memory for %d bytes of input", m.err, len(data))
	}
	// sa_decode takes the input over and frees it (and the previous picture's decoder).
	res, err := call("sa_decode", ptr, uint64(len(data)), uint64(max(0, maxPixels)))
	if err != nil {
		return err
	}
	if code := int32(res); code != 0 {
		return fmt.Errorf("%w: %s", m.err, m.describe(code))
	}
	infoPtr, err := call("sa_info")
	if err != nil {
		return err
	}
	raw, ok := mem.Read(uint32(infoPtr), infoWords*4)
	if !ok {
		return fmt.Errorf("%w: picture description out of memory bounds", m.err)
	}
	p, ok := picture(mem, raw)
	if !ok {
		return fmt.Errorf("%w: picture %d×%d with planes outside memory", m.err, p.Width, p.Height)
	}
	return fn(p)
}

// picture reads the description words and takes views of the planes they point to; ok
// is false when a plane lies outside the module's memory or the size is not positive.
func picture(mem api.Memory, raw []byte) (*Picture, bool) {
	info := func(i int) int { return int(int32(le32(raw[4*i:]))) }
	p := &Picture{
		Width: info(0), Height: info(1), BitDepth: info(2), Layout: Layout(info(3)),
		YStride: info(7), CStride: info(8),
		Matrix: info(9), FullRange: info(10) != 0, Primaries: info(11), Transfer: info(12),
	}
	if p.Width <= 0 || p.Height <= 0 || p.BitDepth < 8 || p.BitDepth > 16 || p.Layout < Layout400 || p.Layout > Layout444 {
		return p, false
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
		if stride < w*bps || at <= 0 {
			return nil, false
		}
		return mem.Read(uint32(at), uint32(stride*(h-1)+w*bps))
	}
	var okY, okCb, okCr bool
	p.Y, okY = plane(info(4), p.YStride, p.Width, p.Height)
	okCb, okCr = true, true
	if p.Layout != Layout400 {
		p.Cb, okCb = plane(info(5), p.CStride, cw, ch)
		p.Cr, okCr = plane(info(6), p.CStride, cw, ch)
	}
	return p, okY && okCb && okCr
}

func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
