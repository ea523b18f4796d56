package photo

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"log/slog"
	"strings"
	"sync"
	"testing"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
	"github.com/serverless-architect/serverless-architect/internal/s3event"
	"github.com/serverless-architect/serverless-architect/internal/thumbnail"
)

type object struct {
	body                      []byte
	contentType, cacheControl string
}

// memObjects is an in-memory bucket that also measures how many Gets overlap.
type memObjects struct {
	mu              sync.Mutex
	objects         map[string]object
	active, maxSeen int
}

func (m *memObjects) Probe(_ context.Context, _, key string, n int64) ([]byte, int64, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
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

func (m *memObjects) Put(_ context.Context, _, key string, body []byte, ct, cc string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[key] = object{body, ct, cc}
	m.active = max(m.active-1, 0)
	return nil
}

type photoItem struct{ status, thumbnailKey, reason string }

type memPhotos struct {
	mu     sync.Mutex
	photos map[string]*photoItem
}

func (m *memPhotos) mark(id string, set func(*photoItem)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.photos[id]
	if !ok {
		return ErrNoPhoto
	}
	if p.status == "pending" {
		set(p)
	}
	return nil
}

func (m *memPhotos) MarkReady(_ context.Context, id, k string) error {
	return m.mark(id, func(p *photoItem) { p.status, p.thumbnailKey = "ready", k })
}

func (m *memPhotos) MarkFailed(_ context.Context, id, why string) error {
	return m.mark(id, func(p *photoItem) { p.status, p.reason = "failed", why })
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

func event(t testing.TB, typ, key string) cloudevents.Event {
	t.Helper()
	rec := fmt.Sprintf(`{"Records":[{"eventSource":"aws:s3","awsRegion":"us-east-1","eventName":%q,"eventTime":"2025-01-01T00:00:00Z",`+
		`"s3":{"bucket":{"name":"media"},"object":{"key":%q,"sequencer":"01"}}}]}`, typ, strings.ReplaceAll(key, " ", "+"))
	recs, _, err := s3event.Parse([]byte(rec))
	if err != nil {
		t.Fatal(err)
	}
	e, err := s3event.NewEvent(recs[0])
	if err != nil {
		t.Fatal(err)
	}
	return e
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

func TestHandle(t *testing.T) {
	photo := testJPEG(t, 1000, 500)
	tests := []struct {
		name      string
		event     cloudevents.Event
		objects   map[string][]byte
		mod       func(*Options)
		wantErr   string // "" none, "permanent", "retry"
		wantPhoto photoItem
		wantThumb bool
	}{
		{"a photo becomes ready", event(t, "ObjectCreated:Put", "uploads/P1.jpg"), map[string][]byte{"uploads/P1.jpg": photo}, nil,
			"", photoItem{"ready", "thumbnails/P1.jpg", ""}, true},
		{"read in two steps when the probe is short", event(t, "ObjectCreated:Put", "uploads/P1.jpg"), map[string][]byte{"uploads/P1.jpg": photo},
			func(o *Options) { o.ProbeBytes = 1024 }, "", photoItem{"ready", "thumbnails/P1.jpg", ""}, true},
		{"a text file named .jpg fails", event(t, "ObjectCreated:Put", "uploads/P1.jpg"), map[string][]byte{"uploads/P1.jpg": []byte("just some text, honestly\n")}, nil,
			"", photoItem{"failed", "", "not a supported image (JPEG, PNG, GIF or WebP)"}, false},
		{"an upload over the budget fails", event(t, "ObjectCreated:Put", "uploads/P1.jpg"), map[string][]byte{"uploads/P1.jpg": photo},
			func(o *Options) { o.MemoryBudget = 2 << 20 }, "", photoItem{"failed", "", "processing needs 4 MB, over the memory budget of 2 MB"}, false},
		{"an upload over the byte limit fails", event(t, "ObjectCreated:Put", "uploads/P1.jpg"), map[string][]byte{"uploads/P1.jpg": photo},
			func(o *Options) { o.Thumbnail.Limits.MaxBytes = 100 }, "", photoItem{"failed", "", fmt.Sprintf("the file is %d bytes, over the limit of 100", len(photo))}, false},
		{"a deleted upload fails", event(t, "ObjectCreated:Put", "uploads/P1.jpg"), nil, nil,
			"", photoItem{"failed", "", "the upload no longer exists"}, false},
		{"an unregistered upload is refused", event(t, "ObjectCreated:Put", "uploads/NOPE.jpg"), map[string][]byte{"uploads/NOPE.jpg": photo}, nil,
			"permanent", photoItem{"pending", "", ""}, false},
		{"a nested key is refused", event(t, "ObjectCreated:Put", "uploads/a/P1.jpg"), nil, nil,
			"permanent", photoItem{"pending", "", ""}, false},
		{"other prefixes are ignored", event(t, "ObjectCreated:Put", "thumbnails/P1.jpg"), nil, nil,
			"", photoItem{"pending", "", ""}, false},
		{"deletions are ignored", event(t, "ObjectRemoved:Delete", "uploads/P1.jpg"), nil, nil,
			"", photoItem{"pending", "", ""}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, mo, mp := newHandler(t, tt.objects, map[string]*photoItem{"P1": {status: "pending"}}, tt.mod)
			err := h.Handle(context.Background(), tt.event)
			switch {
			case tt.wantErr == "" && err != nil, tt.wantErr == "permanent" && !cloudevent.IsPermanent(err):
				t.Fatalf("Handle: %v, want %s", err, map[string]string{"": "nil"}[tt.wantErr]+tt.wantErr)
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
			// Redelivery: the same bytes at the same key, the photo unchanged, no error.
			if err := h.Handle(context.Background(), tt.event); err != nil {
				t.Fatalf("second Handle: %v", err)
			}
			if again := mo.objects["thumbnails/P1.jpg"]; !bytes.Equal(again.body, thumb.body) {
				t.Error("redelivery wrote different bytes")
			}
		})
	}
}

func TestMemoryBudgetBoundsConcurrentJobs(t *testing.T) {
	const jobs = 6
	objs := map[string][]byte{}
	photos := map[string]*photoItem{}
	for i := range jobs {
		id := fmt.Sprintf("P%d", i)
		objs["uploads/"+id+".jpg"] = testJPEG(t, 1000, 1000)
		photos[id] = &photoItem{status: "pending"}
	}
	// One job needs about 1.5 MB of planes + 4 MB working set + the file: a budget of
	// 8 MiB admits one at a time.
	h, mo, mp := newHandler(t, objs, photos, func(o *Options) { o.MemoryBudget = 8 << 20; o.ProbeBytes = 1024 })
	var wg sync.WaitGroup
	for i := range jobs {
		wg.Go(func() {
			if err := h.Handle(context.Background(), event(t, "ObjectCreated:Put", fmt.Sprintf("uploads/P%d.jpg", i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if mo.maxSeen != 1 {
		t.Errorf("%d jobs held images at once, want 1 under an 8 MiB budget", mo.maxSeen)
	}
	for id, p := range mp.photos {
		if p.status != "ready" {
			t.Errorf("photo %s is %s", id, p.status)
		}
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
