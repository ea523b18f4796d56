package api

import (
	"bytes"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/caarlos0/env/v11"

	"github.com/serverless-architect/serverless-architect/internal/imagetest"
	"github.com/serverless-architect/serverless-architect/internal/thumbnail"
)

// TestPeakHeapPerFormat: for a 12-megapixel photo in every format the thumbnailer reads
// (smaller where the format is not used for camera photos), the Go heap peak of one
// job stays within what the job reserves (the file plus the decode estimated from the
// header), and that reservation within the default MEMORY_BUDGET_BYTES (the README's
// BUDGET): every format is thumbnailed, none can take more than admitted. The peak is
// sampled every 2 ms, with the collector made eager, after the codecs are compiled (as
// the service does at start). Needs heif-enc, cwebp and jpegtran (make test installs
// them).
func TestPeakHeapPerFormat(t *testing.T) {
	var cfg Config
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: map[string]string{"AWS_REGION": "us-east-1"}}); err != nil {
		t.Fatal(err)
	}
	budget := cfg.MemoryBudget
	opts := cfg.Options().Thumbnail
	heifEnc := imagetest.Tool(t, "heif-enc", "libheif-examples")
	cwebp := imagetest.Tool(t, "cwebp", "webp")
	jpegtran := imagetest.Tool(t, "jpegtran", "libjpeg-turbo-progs")
	photo := imagetest.Photo(4000, 3000, 9)
	small := imagetest.Photo(2000, 1500, 9)
	var jpg, pngb, gifb bytes.Buffer
	if err := jpeg.Encode(&jpg, photo, &jpeg.Options{Quality: 92}); err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(&pngb, small); err != nil {
		t.Fatal(err)
	}
	if err := gif.Encode(&gifb, small, nil); err != nil {
		t.Fatal(err)
	}
	files := []struct {
		name string
		data []byte
	}{
		{"jpeg 12 MP", jpg.Bytes()},
		{"progressive jpeg 12 MP", imagetest.Convert(t, jpegtran, nil, jpg.Bytes(), ".jpg", ".jpg", "-progressive", "-outfile", "OUT", "IN")},
		{"png 3 MP", pngb.Bytes()},
		{"gif 3 MP", gifb.Bytes()},
		{"webp 3 MP", imagetest.Convert(t, cwebp, small, nil, ".png", ".webp", "-quiet", "-q", "80", "IN", "-o", "OUT")},
		{"heic 12 MP", imagetest.Convert(t, heifEnc, nil, jpg.Bytes(), ".jpg", ".heic", "-q", "60", "-p", "preset=ultrafast", "-o", "OUT", "IN")},
		{"avif 12 MP", imagetest.Convert(t, heifEnc, nil, jpg.Bytes(), ".jpg", ".avif", "-A", "-q", "60", "-p", "speed=9", "-o", "OUT", "IN")},
	}
	thumbnail.Warm()
	for _, f := range files {
		t.Run(f.name, func(t *testing.T) {
			h, err := thumbnail.Inspect(f.data, opts)
			if err != nil {
				t.Fatal(err)
			}
			reserved := h.DecodeBytes + int64(len(f.data))
			var makeErr error
			peak := imagetest.HeapPeak(func() { _, makeErr = thumbnail.Make(f.data, opts) })
			if makeErr != nil {
				t.Fatal(makeErr)
			}
			t.Logf("%s: %.1f MB file, heap peak %.1f MiB, reserved %.1f MiB, budget %.0f MiB",
				f.name, float64(len(f.data))/1e6, float64(peak)/(1<<20), float64(reserved)/(1<<20), float64(budget)/(1<<20))
			if peak > reserved {
				t.Errorf("heap peak %.1f MiB over the %.1f MiB the job reserves", float64(peak)/(1<<20), float64(reserved)/(1<<20))
			}
			if reserved > budget {
				t.Errorf("the job reserves %.1f MiB, over the %.0f MiB budget: it would be rejected", float64(reserved)/(1<<20), float64(budget)/(1<<20))
			}
		})
	}
}
