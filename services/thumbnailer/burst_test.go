package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/serverless-architect/serverless-architect/internal/cloudevent"
	"github.com/serverless-architect/serverless-architect/internal/imagetest"
	"github.com/serverless-architect/serverless-architect/internal/metrics/metricstest"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/porttest"
	"github.com/serverless-architect/serverless-architect/internal/proctest"
	"github.com/serverless-architect/serverless-architect/internal/provision"
	"github.com/serverless-architect/serverless-architect/internal/s3event"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// productionConfig reads what config/ gives the thumbnailer in a cluster: the
// ConfigMap's variables and the container's memory limit.
func productionConfig(t *testing.T) (env []string, limit int64) {
	t.Helper()
	var cm corev1.ConfigMap
	b, err := os.ReadFile("../../config/300-config-thumbnailer.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &cm); err != nil {
		t.Fatal(err)
	}
	for k, v := range cm.Data {
		env = append(env, k+"="+v)
	}
	var svc struct {
		Spec struct {
			Template struct {
				Spec corev1.PodSpec `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	if b, err = os.ReadFile("../../config/410-thumbnailer.yaml"); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &svc); err != nil {
		t.Fatal(err)
	}
	q, ok := svc.Spec.Template.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory]
	if !ok {
		t.Fatal("config/410-thumbnailer.yaml sets no memory limit")
	}
	return env, q.Value()
}

// procStatus reads VmRSS and VmHWM (peak) of a process, in bytes.
func procStatus(t *testing.T, pid int) (rss, hwm int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		var kb int64
		if _, err := fmt.Sscanf(line, "VmRSS: %d kB", &kb); err == nil {
			rss = kb << 10
		}
		if _, err := fmt.Sscanf(line, "VmHWM: %d kB", &kb); err == nil {
			hwm = kb << 10
		}
	}
	return rss, hwm
}

// TestBurstOfHugeUploadsFitsTheContainer is the memory probe of issue 17, on the real
// binary built as ko builds it, configured by config/'s ConfigMap and given config/'s
// memory limit as its cgroup's memory.max: three 7000×7000 uploads at once (two
// one-colour PNGs of a few hundred KB, a progressive JPEG), then two of each at once.
// Every photo becomes ready, the process's peak resident memory stays far under the
// container's limit, and after each burst the memory is returned (resident memory back
// near where it was before).
func TestBurstOfHugeUploadsFitsTheContainer(t *testing.T) {
	ep := mototest.Endpoint(t)
	jpegtran := imagetest.Tool(t, "jpegtran", "libjpeg-turbo-progs")
	ctx := context.Background()
	cfg := mototest.AWSConfig(t, ep)
	prefix := mototest.Name("burst") + "-"
	var res stack.Resources
	if _, err := provision.BlogResources(prefix, provision.BlogOptions{})[0].Ensure(ctx, provision.NewClients(cfg), &res); err != nil {
		t.Fatal(err)
	}
	bucket := prefix + "media"
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)

	flat := onePixelColourPNG(7000, 7000)
	var base bytes.Buffer
	m := image.NewYCbCr(image.Rect(0, 0, 7000, 7000), image.YCbCrSubsampleRatio420)
	for i := range m.Y {
		m.Y[i] = 90
	}
	for i := range m.Cb {
		m.Cb[i], m.Cr[i] = 100, 160
	}
	if err := jpeg.Encode(&base, m, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	progressive := imagetest.Convert(t, jpegtran, nil, base.Bytes(), ".jpg", ".jpg", "-progressive", "-outfile", "OUT", "IN")
	t.Logf("uploads: PNG %d KB, progressive JPEG %d KB", len(flat)>>10, len(progressive)>>10)

	env, limit := productionConfig(t)
	cgroup := t.TempDir()
	if err := os.WriteFile(filepath.Join(cgroup, "memory.max"), []byte(strconv.FormatInt(limit, 10)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := proctest.Build(t, ".")
	port, mport := porttest.Free(t), porttest.Free(t)
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	cmd, out := proctest.Start(t, bin, "thumbnailer", append(env, "PORT="+strconv.Itoa(port), "METRICS_PORT="+strconv.Itoa(mport), "HOST=127.0.0.1", "DRAIN_DELAY=0s", "PATH="+os.Getenv("PATH"),
		"AWS_REGION=us-east-1", "AWS_ENDPOINT_URL="+ep, "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test",
		"S3_FORCE_PATH_STYLE=true", "POSTS_TABLE="+res.PostsTable, "CGROUP_ROOT="+cgroup))
	proctest.WaitReady(t, url, 30*time.Second)
	if !strings.Contains(out.String(), fmt.Sprintf(`"goMemoryLimitBytes":%d`, limit-limit/10)) {
		t.Errorf("Go's memory limit was not set from the container's %d bytes less 10%%:\n%s", limit, out.String())
	}
	// Let the codecs compile (started with the server) and the heap settle.
	time.Sleep(3 * time.Second)
	rest, _ := procStatus(t, cmd.Process.Pid)

	n := 0
	burst := func(files ...[]byte) {
		t.Helper()
		var wg sync.WaitGroup
		for _, f := range files {
			n++
			id := fmt.Sprintf("BURST%02d", n)
			ext := ".png"
			if f[0] == 0xFF {
				ext = ".jpg"
			}
			key := "uploads/" + id + ext
			if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(f)}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(res.PostsTable), Item: map[string]ddbtypes.AttributeValue{
				"pk": &ddbtypes.AttributeValueMemberS{Value: "PHOTO#" + id}, "sk": &ddbtypes.AttributeValueMemberS{Value: "PHOTO"},
				"id": &ddbtypes.AttributeValueMemberS{Value: id}, "status": &ddbtypes.AttributeValueMemberS{Value: "pending"},
			}}); err != nil {
				t.Fatal(err)
			}
			wg.Go(func() { deliver(t, url, bucket, key) })
		}
		wg.Wait()
		for i := n - len(files) + 1; i <= n; i++ {
			id := fmt.Sprintf("BURST%02d", i)
			got, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(res.PostsTable), ConsistentRead: aws.Bool(true), Key: map[string]ddbtypes.AttributeValue{
				"pk": &ddbtypes.AttributeValueMemberS{Value: "PHOTO#" + id}, "sk": &ddbtypes.AttributeValueMemberS{Value: "PHOTO"},
			}})
			if err != nil {
				t.Fatal(err)
			}
			if s, _ := got.Item["status"].(*ddbtypes.AttributeValueMemberS); s == nil || s.Value != "ready" {
				t.Errorf("photo %s: %v", id, got.Item)
			}
		}
	}
	for _, files := range [][][]byte{{flat, progressive, flat}, {flat, flat, progressive, progressive}} {
		burst(files...)
		time.Sleep(500 * time.Millisecond)
		rss, hwm := procStatus(t, cmd.Process.Pid)
		t.Logf("%d uploads at once: resident %d MiB at rest, peak %d MiB, %d MiB after (container limit %d MiB)",
			len(files), rest>>20, hwm>>20, rss>>20, limit>>20)
		// Each job reserves a few MB (rows, not 147 MB images): the peak is the
		// resting process plus a small multiple of that, nowhere near the limit.
		if hwm > rest+96<<20 {
			t.Errorf("peak resident memory %d MiB, more than 96 MiB over the %d MiB at rest", hwm>>20, rest>>20)
		}
		if rss > rest+24<<20 {
			t.Errorf("resident memory %d MiB after the burst, more than 24 MiB over the %d MiB at rest: not returned", rss>>20, rest>>20)
		}
	}
	// Every photo made ready is on the process's /metrics, each event under the
	// receiver's route.
	murl := "http://127.0.0.1:" + strconv.Itoa(mport) + "/metrics"
	// The photo is counted inside the handler, the request when the handler returns:
	// wait for both in one scrape.
	metricstest.WaitAll(t, murl,
		metricstest.Want{Name: "thumbnailer_photos_total", Labels: map[string]string{"outcome": "ready"}, Value: float64(n)},
		metricstest.Want{Name: "http_server_requests_total", Labels: map[string]string{"route": cloudevent.ReceiverRoute, "method": "POST", "code": "204"}, Value: float64(n)})
}

// deliver posts the S3 ObjectCreated event of key to the thumbnailer, as the broker
// would, and expects it done.
func deliver(t *testing.T, url, bucket, key string) {
	rec := fmt.Sprintf(`{"Records":[{"eventSource":"aws:s3","awsRegion":"us-east-1","eventName":"ObjectCreated:Put","eventTime":"2026-01-01T00:00:00Z",`+
		`"s3":{"bucket":{"name":%q},"object":{"key":%q,"sequencer":"01"}}}]}`, bucket, key)
	recs, _, err := s3event.Parse([]byte(rec))
	if err != nil {
		t.Error(err)
		return
	}
	e, err := s3event.NewEvent(recs[0])
	if err != nil {
		t.Error(err)
		return
	}
	req, _ := http.NewRequest(http.MethodPost, url, nil)
	if err := cehttp.WriteRequest(binding.WithForceBinary(context.Background()), binding.ToMessage(&e), req); err != nil {
		t.Error(err)
		return
	}
	resp, err := (&http.Client{Timeout: 2 * time.Minute}).Do(req)
	if err != nil {
		t.Error(err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("event for %s answered %d, want 204", key, resp.StatusCode)
	}
}

// onePixelColourPNG is a w×h RGB PNG of one colour, written with the image package.
func onePixelColourPNG(w, h int) []byte {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	c := color.RGBA{40, 120, 200, 255}
	for i := 0; i < len(m.Pix); i += 4 {
		m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	var buf bytes.Buffer
	_ = (&png.Encoder{CompressionLevel: png.BestCompression}).Encode(&buf, m)
	return buf.Bytes()
}
