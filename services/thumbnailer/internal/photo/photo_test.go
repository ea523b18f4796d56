package photo

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/apperr"
	"github.com/serverless-architect/serverless-architect/internal/logtest"
	"github.com/serverless-architect/serverless-architect/internal/thumbnail"
)

type object struct {
	body                      []byte
	contentType, cacheControl string
}

// memObjects is an in-memory bucket that also counts reads and writes and measures how
// many whole-object reads overlap.
type memObjects struct {
	mu              sync.Mutex
	objects         map[string]object
	active, maxSeen int
	probes, writes  int
}

func (m *memObjects) Probe(_ context.Context, _, key string, n int64) ([]byte, int64, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.probes++
	o, ok := m.objects[key]
	if !ok {
		return nil, 0, "", ErrObjectGone
	}
	return bytes.Clone(o.body[:min(int64(len(o.body)), n)]), int64(len(o.body)), "etag", nil
}

func (m *memObjects) Get(_ context.Context, _, key, _ string, _ int64) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.active++
	m.maxSeen = max(m.maxSeen, m.active)
	return bytes.Clone(m.objects[key].body), nil
}

func (m *memObjects) Create(_ context.Context, _, key string, body []byte, ct, cc string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if strings.HasSuffix(key, ".jpg") {
		m.active = max(m.active-1, 0)
	}
	if _, ok := m.objects[key]; ok {
		return ErrExists
	}
	m.writes++
	m.objects[key] = object{body, ct, cc}
	return nil
}

type photoItem struct{ status, thumbnailKey, webpKey, reason string }

type memPhotos struct {
	mu     sync.Mutex
	photos map[string]*photoItem
}

func (m *memPhotos) Status(_ context.Context, id string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.photos[id]
	if !ok {
		return "", ErrNoPhoto
	}
	return p.status, nil
}

func (m *memPhotos) mark(id string, set func(*photoItem)) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.photos[id]
	if !ok {
		return false, ErrNoPhoto
	}
	if p.status != Pending {
		return false, nil
	}
	set(p)
	return true, nil
}

func (m *memPhotos) MarkReady(_ context.Context, id string, t Thumbnails) (bool, error) {
	return m.mark(id, func(p *photoItem) { p.status, p.thumbnailKey, p.webpKey = Ready, t.JPEG, t.WebP })
}

func (m *memPhotos) MarkRejected(_ context.Context, id, why string) (bool, error) {
	return m.mark(id, func(p *photoItem) { p.status, p.reason = Rejected, why })
}

func (m *memPhotos) MarkFailed(_ context.Context, id, why string) (bool, error) {
	return m.mark(id, func(p *photoItem) { p.status, p.reason = Failed, why })
}

func testJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.Set(x, y, color.RGBA{uint8(x), uint8(y), uint8(x + y), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func newHandler(t testing.TB, objs map[string][]byte, photos map[string]*photoItem, mod func(*Options)) (*Handler, *memObjects, *memPhotos) {
	t.Helper()
	mo := &memObjects{objects: map[string]object{}}
	for k, b := range objs {
		mo.objects[k] = object{body: b}
	}
	mp := &memPhotos{photos: photos}
	o := Options{
		Thumbnail: thumbnail.DefaultOptions, MemoryBudget: 256 << 20, ProbeBytes: 256 << 10,
		UploadsPrefix: "uploads/", ThumbnailsPrefix: "thumbnails/", CacheControl: "public, max-age=60",
	}
	if mod != nil {
		mod(&o)
	}
	h, err := New(mo, mp, o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return h, mo, mp
}

func testPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, w, h))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestUpload(t *testing.T) {
	photo := testJPEG(t, 1000, 500)
	tests := []struct {
		name      string
		key       string // of the upload, in the bucket "media"
		objects   map[string][]byte
		mod       func(*Options)
		wantErr   string // "" none, "permanent", "retry"
		wantPhoto photoItem
		wantThumb bool
	}{
		{"a photo becomes ready", "uploads/P1.jpg", map[string][]byte{"uploads/P1.jpg": photo}, nil,
			"", photoItem{Ready, "thumbnails/P1.jpg", "", ""}, true},
		{"read in two steps when the probe is short", "uploads/P1.jpg", map[string][]byte{"uploads/P1.jpg": photo},
			func(o *Options) { o.ProbeBytes = 1024 }, "", photoItem{Ready, "thumbnails/P1.jpg", "", ""}, true},
		{"without WebP", "uploads/P1.jpg", map[string][]byte{"uploads/P1.jpg": photo},
			func(o *Options) { o.Thumbnail.WebP = false }, "", photoItem{Ready, "thumbnails/P1.jpg", "", ""}, true},
		{"a text file named .jpg is rejected", "uploads/P1.jpg", map[string][]byte{"uploads/P1.jpg": []byte("just some text, honestly, nothing more to it\n")}, nil,
			"", photoItem{Rejected, "", "", "not a supported image (JPEG, PNG, GIF, WebP, HEIC or AVIF)"}, false},
		{"a PNG uploaded as a JPEG is rejected", "uploads/P1.jpg", map[string][]byte{"uploads/P1.jpg": testPNG(t, 300, 200)}, nil,
			"", photoItem{Rejected, "", "", "the file is PNG (image/png), but was uploaded as image/jpeg"}, false},
		{"a PNG uploaded as a PNG is fine", "uploads/P1.png", map[string][]byte{"uploads/P1.png": testPNG(t, 1000, 500)}, nil,
			"", photoItem{Ready, "thumbnails/P1.jpg", "", ""}, true},
		{"an upload over the budget is rejected", "uploads/P1.jpg", map[string][]byte{"uploads/P1.jpg": photo},
			func(o *Options) { o.MemoryBudget = 1 << 20 }, "", photoItem{Rejected, "", "", fmt.Sprintf("processing needs %d MB, over the memory budget of 1 MB", need(t, photo)>>20)}, false},
		{"an upload over the byte limit is rejected", "uploads/P1.jpg", map[string][]byte{"uploads/P1.jpg": photo},
			func(o *Options) { o.Thumbnail.Limits.MaxBytes = 100 }, "", photoItem{Rejected, "", "", fmt.Sprintf("the file is %d bytes, over the limit of 100", len(photo))}, false},
		{"a deleted upload fails", "uploads/P1.jpg", nil, nil,
			"", photoItem{Failed, "", "", "the upload no longer exists"}, false},
		{"an unregistered upload is refused", "uploads/NOPE.jpg", map[string][]byte{"uploads/NOPE.jpg": photo}, nil,
			"permanent", photoItem{Pending, "", "", ""}, false},
		{"a nested key is refused", "uploads/a/P1.jpg", nil, nil,
			"permanent", photoItem{Pending, "", "", ""}, false},
		{"other prefixes are ignored", "thumbnails/P1.jpg", nil, nil,
			"", photoItem{Pending, "", "", ""}, false},
	}
	// The outcomes each case reports (Options.Outcome): the first delivery's, then the
	// redelivery's where the case makes one (a thumbnail was written); uploads Upload
	// ignores or refuses before reading the photo report none.
	outcomes := map[string][]string{
		"a photo becomes ready":                     {"ready/", "duplicate/"},
		"read in two steps when the probe is short": {"ready/", "duplicate/"},
		"without WebP":                              {"ready/", "duplicate/"},
		"a text file named .jpg is rejected":        {"rejected/not_image"},
		"a PNG uploaded as a JPEG is rejected":      {"rejected/type_mismatch"},
		"a PNG uploaded as a PNG is fine":           {"ready/", "duplicate/"},
		"an upload over the budget is rejected":     {"rejected/too_large"},
		"an upload over the byte limit is rejected": {"rejected/too_large"},
		"a deleted upload fails":                    {"failed/upload_gone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			h, mo, mp := newHandler(t, tt.objects, map[string]*photoItem{"P1": {status: Pending}}, func(o *Options) {
				if tt.mod != nil {
					tt.mod(o)
				}
				o.Outcome = func(outcome, reason string) { got = append(got, outcome+"/"+reason) }
			})
			defer func() {
				if diff := cmp.Diff(outcomes[tt.name], got); diff != "" && !t.Failed() {
					t.Errorf("outcomes (-want +got):\n%s", diff)
				}
			}()
			err := h.Upload(context.Background(), "media", tt.key)
			switch {
			case tt.wantErr == "" && err != nil, tt.wantErr == "permanent" && apperr.CodeOf(err) != apperr.Invalid:
				t.Fatalf("Upload: %v, want %s", err, map[string]string{"": "nil"}[tt.wantErr]+tt.wantErr)
			}
			if _, ok := mo.objects["thumbnails/P1.webp"]; ok {
				tt.wantPhoto.webpKey = "thumbnails/P1.webp"
			}
			if diff := cmp.Diff(tt.wantPhoto, *mp.photos["P1"], cmp.AllowUnexported(photoItem{})); diff != "" {
				t.Errorf("photo (-want +got):\n%s", diff)
			}
			thumb, ok := mo.objects["thumbnails/P1.jpg"]
			if ok != tt.wantThumb {
				t.Fatalf("thumbnail written = %v, want %v", ok, tt.wantThumb)
			}
			if !ok {
				return
			}
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(thumb.body))
			if err != nil || cfg.Width != 256 || cfg.Height != 128 {
				t.Errorf("thumbnail %dx%d (%v), want 256x128", cfg.Width, cfg.Height, err)
			}
			if thumb.contentType != "image/jpeg" || thumb.cacheControl != "public, max-age=60" {
				t.Errorf("thumbnail headers %q %q", thumb.contentType, thumb.cacheControl)
			}
			if w, ok := mo.objects["thumbnails/P1.webp"]; ok {
				if w.contentType != "image/webp" || len(w.body) >= len(thumb.body) || string(w.body[8:12]) != "WEBP" {
					t.Errorf("WebP thumbnail: %q, %d bytes against the JPEG's %d", w.contentType, len(w.body), len(thumb.body))
				}
			}
			// Redelivery: nothing read past the state, nothing written, no error.
			probes, writes := mo.probes, mo.writes
			if err := h.Upload(context.Background(), "media", tt.key); err != nil {
				t.Fatalf("second Upload: %v", err)
			}
			if mo.probes != probes || mo.writes != writes {
				t.Errorf("a redelivery read the upload %d times and wrote %d objects, want none", mo.probes-probes, mo.writes-writes)
			}
		})
	}
}

// TestDuplicatesCostNothing: fourteen deliveries of one event, one after the other and
// then all at once on a fresh photo, make one thumbnail, write each object once and log
// "photo ready" once; the sequential duplicates do not even read the upload.
func TestDuplicatesCostNothing(t *testing.T) {
	for _, concurrent := range []bool{false, true} {
		t.Run(map[bool]string{false: "one after the other", true: "all at once"}[concurrent], func(t *testing.T) {
			var logs logtest.Buffer
			h, mo, mp := newHandler(t, map[string][]byte{"uploads/P1.jpg": testJPEG(t, 1000, 500)}, map[string]*photoItem{"P1": {status: Pending}}, nil)
			h.log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			key := "uploads/P1.jpg"
			var wg sync.WaitGroup
			for range 14 {
				deliver := func() {
					if err := h.Upload(context.Background(), "media", key); err != nil {
						t.Error(err)
					}
				}
				if concurrent {
					wg.Go(deliver)
				} else {
					deliver()
				}
			}
			wg.Wait()
			if got := strings.Count(logs.String(), `"msg":"photo ready"`); got != 1 {
				t.Errorf("logged photo ready %d times, want once:\n%s", got, logs.String())
			}
			wantWrites := 1
			if mp.photos["P1"].webpKey != "" {
				wantWrites = 2
			}
			if mo.writes != wantWrites {
				t.Errorf("%d objects written, want %d", mo.writes, wantWrites)
			}
			if !concurrent && mo.probes != 1 {
				t.Errorf("the upload was read %d times for 14 sequential deliveries, want once", mo.probes)
			}
			if mp.photos["P1"].status != Ready {
				t.Errorf("photo is %s", mp.photos["P1"].status)
			}
		})
	}
}

// need is what the handler reserves for a job on b: the file and its decode.
func need(t *testing.T, b []byte, mod ...func(*thumbnail.Options)) int64 {
	t.Helper()
	o := thumbnail.DefaultOptions
	for _, m := range mod {
		m(&o)
	}
	h, err := thumbnail.Inspect(b, o)
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(b)) + h.DecodeBytes
}

func TestMemoryBudgetBoundsConcurrentJobs(t *testing.T) {
	const jobs = 6
	objs := map[string][]byte{}
	photos := map[string]*photoItem{}
	for i := range jobs {
		id := fmt.Sprintf("P%d", i)
		objs["uploads/"+id+".jpg"] = testJPEG(t, 1000, 1000)
		photos[id] = &photoItem{status: Pending}
	}
	// Full-scale decodes (widths as large as the images): a budget of one and a half
	// jobs admits one at a time.
	one := need(t, objs["uploads/P0.jpg"], func(o *thumbnail.Options) { o.Widths = []int{1000} })
	h, mo, mp := newHandler(t, objs, photos, func(o *Options) {
		o.MemoryBudget, o.ProbeBytes, o.Thumbnail.Widths = one*3/2, 1024, []int{1000}
	})
	var frees atomic.Int32
	h.freeOSMemory = func() { frees.Add(1) }
	var wg sync.WaitGroup
	for i := range jobs {
		wg.Go(func() {
			if err := h.Upload(context.Background(), "media", fmt.Sprintf("uploads/P%d.jpg", i)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if mo.maxSeen != 1 {
		t.Errorf("%d jobs held images at once, want 1 under a budget of one and a half jobs", mo.maxSeen)
	}
	for id, p := range mp.photos {
		if p.status != Ready {
			t.Errorf("photo %s is %s", id, p.status)
		}
	}
	// The jobs queue behind each other: one burst, whose end returns memory once.
	if got := frees.Load(); got != 1 {
		t.Errorf("memory returned %d times after one burst, want once", got)
	}
}

func TestPhotoID(t *testing.T) {
	tests := []struct {
		key, want string
		ok        bool
	}{
		{"uploads/01J0ABC.jpg", "01J0ABC", true},
		{"uploads/01J0ABC", "01J0ABC", true},
		{"uploads/x.y.png", "x.y", true},
		{"uploads/", "", false},
		{"uploads/.jpg", "", false},
		{"uploads/a/b.jpg", "", false},
		{"elsewhere/a.jpg", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			got, ok := PhotoID("uploads/", tt.key)
			if got != tt.want || ok != tt.ok {
				t.Errorf("PhotoID(%q) = %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.ok)
			}
		})
	}
}
