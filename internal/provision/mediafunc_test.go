package provision

import (
	"encoding/json"
	"os"
	"os/exec"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudfront/types"
	"github.com/google/go-cmp/cmp"
)

func TestMediaFunctionGolden(t *testing.T) {
	want, err := os.ReadFile("testdata/media-function.js")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(MediaFunctionCode)); diff != "" {
		t.Errorf("media function code (-want +got):\n%s", diff)
	}
	// CloudFront Functions are limited to 10 KB of code.
	if len(MediaFunctionCode) > 10*1024 {
		t.Errorf("function code is %d bytes, over CloudFront's 10 KB", len(MediaFunctionCode))
	}
}

// TestMediaFunctionRuns runs the function under node with CloudFront's event shape.
func TestMediaFunctionRuns(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the function's behaviour is not run")
	}
	in := map[string]string{
		"/media/uploads/01J.jpg":     "/uploads/01J.jpg",
		"/media/thumbnails/01J.jpg":  "/thumbnails/01J.jpg",
		"/media":                     "/",
		"/media/":                    "/",
		"/mediafoo/x.jpg":            "/mediafoo/x.jpg",
		"/index.html":                "/index.html",
		"/v1/media/uploads/x.jpg":    "/v1/media/uploads/x.jpg",
		"/media/uploads/a%20b.jpg":   "/uploads/a%20b.jpg",
		"/media/media/uploads/x.jpg": "/media/uploads/x.jpg",
	}
	script := string(MediaFunctionCode) + `
const cases = JSON.parse(process.argv[1]);
const out = {};
for (const uri of cases) out[uri] = handler({ request: { method: "GET", uri: uri, querystring: {}, headers: {} } }).uri;
console.log(JSON.stringify(out));`
	var uris []string
	for u := range in {
		uris = append(uris, u)
	}
	arg, _ := json.Marshal(uris)
	b, err := exec.Command(node, "-e", script, string(arg)).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, b)
	}
	var got map[string]string
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("node output %q: %v", b, err)
	}
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("rewritten URIs (-want +got):\n%s", diff)
	}
}

func TestAttachMediaFunction(t *testing.T) {
	const arn = "arn:aws:cloudfront::123456789012:function/myblog-media-path"
	media := func(fas ...cftypes.FunctionAssociation) *cftypes.DistributionConfig {
		dc := Distribution{DistName: "d", SiteBucket: "s", MediaBucket: "m", APIHost: "h"}.Config("us-east-1", "oac")
		if fas != nil {
			dc.CacheBehaviors.Items[1].FunctionAssociations = &cftypes.FunctionAssociations{Quantity: aws.Int32(int32(len(fas))), Items: fas}
		}
		return dc
	}
	fa := func(ev cftypes.EventType, arn string) cftypes.FunctionAssociation {
		return cftypes.FunctionAssociation{EventType: ev, FunctionARN: aws.String(arn)}
	}
	for _, tc := range []struct {
		name    string
		dc      *cftypes.DistributionConfig
		changed bool
		want    []string
	}{
		{"none yet", media(), true, []string{"viewer-request " + arn}},
		{"already", media(fa(cftypes.EventTypeViewerRequest, arn)), false, []string{"viewer-request " + arn}},
		{"other function replaced", media(fa(cftypes.EventTypeViewerRequest, "old")), true, []string{"viewer-request " + arn}},
		{"response function kept", media(fa(cftypes.EventTypeViewerResponse, "resp")), true, []string{"viewer-response resp", "viewer-request " + arn}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := AttachMediaFunction(tc.dc, arn); got != tc.changed {
				t.Errorf("changed = %v, want %v", got, tc.changed)
			}
			var got []string
			for _, b := range tc.dc.CacheBehaviors.Items {
				if aws.ToString(b.PathPattern) != mediaPathPattern {
					if b.FunctionAssociations != nil {
						t.Errorf("%s got a function", aws.ToString(b.PathPattern))
					}
					continue
				}
				for _, f := range b.FunctionAssociations.Items {
					got = append(got, string(f.EventType)+" "+aws.ToString(f.FunctionARN))
				}
				if int(aws.ToInt32(b.FunctionAssociations.Quantity)) != len(b.FunctionAssociations.Items) {
					t.Errorf("quantity %d for %d items", aws.ToInt32(b.FunctionAssociations.Quantity), len(b.FunctionAssociations.Items))
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("associations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUploadCORSRule(t *testing.T) {
	r := UploadCORSRule("d111.cloudfront.net", []string{"https://blog.example.com", "", "https://d111.cloudfront.net"})
	if diff := cmp.Diff([]string{"https://d111.cloudfront.net", "https://blog.example.com"}, r.AllowedOrigins); diff != "" {
		t.Errorf("origins (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"PUT"}, r.AllowedMethods); diff != "" {
		t.Errorf("methods (-want +got):\n%s", diff)
	}
}
