package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/serverless-architect/serverless-architect/internal/imagetest"
	"github.com/serverless-architect/serverless-architect/internal/mototest"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// stackAWS is an SDK configuration for the stack's moto.
func stackAWS(t *testing.T, st *stack.Stack) aws.Config {
	t.Helper()
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion(st.Region), config.WithBaseEndpoint(st.AWSEndpoint),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// adminToken signs a new user up in the stack's user pool, confirms them, puts them in
// the admins group and signs them in: their id token carries cognito:groups.
func adminToken(t *testing.T, st *stack.Stack) string {
	t.Helper()
	ctx := context.Background()
	c := cip.NewFromConfig(stackAWS(t, st))
	r := st.Resources
	name := strings.ToLower(mototest.Name("admin")) + "@example.com"
	const password = "Passw0rd1x!"
	if _, err := c.SignUp(ctx, &cip.SignUpInput{ClientId: aws.String(r.UserPoolClientID), Username: aws.String(name), Password: aws.String(password),
		UserAttributes: []ciptypes.AttributeType{{Name: aws.String("email"), Value: aws.String(name)}}}); err != nil {
		t.Fatalf("sign up: %v", err)
	}
	if _, err := c.AdminConfirmSignUp(ctx, &cip.AdminConfirmSignUpInput{UserPoolId: aws.String(r.UserPoolID), Username: aws.String(name)}); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	if _, err := c.AdminAddUserToGroup(ctx, &cip.AdminAddUserToGroupInput{UserPoolId: aws.String(r.UserPoolID), Username: aws.String(name), GroupName: aws.String(r.AdminsGroup)}); err != nil {
		t.Fatalf("add to %s: %v", r.AdminsGroup, err)
	}
	out, err := c.InitiateAuth(ctx, &cip.InitiateAuthInput{ClientId: aws.String(r.UserPoolClientID), AuthFlow: ciptypes.AuthFlowTypeUserPasswordAuth,
		AuthParameters: map[string]string{"USERNAME": name, "PASSWORD": password}})
	if err != nil || out.AuthenticationResult == nil {
		t.Fatalf("sign in: %v", err)
	}
	return aws.ToString(out.AuthenticationResult.IdToken)
}

// photoJSON is blog-api's photo.
type photoJSON struct {
	ID           string  `json:"id"`
	Status       string  `json:"status"`
	UploadURL    string  `json:"uploadUrl"`
	ThumbnailURL *string `json:"thumbnailUrl"`
	// ThumbnailWebPURL is set when the thumbnailer kept a WebP.
	ThumbnailWebPURL *string `json:"thumbnailWebpUrl"`
	Reason           string  `json:"reason"`
}

// uploadPhoto registers a photo with blog-api and PUTs body to its presigned URL.
func uploadPhoto(t *testing.T, client *http.Client, blogAPI, token, contentType, filename string, body []byte) photoJSON {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, blogAPI+"/v1/photos", strings.NewReader(fmt.Sprintf(`{"contentType":%q,"filename":%q}`, contentType, filename)))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var p photoJSON
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &p) != nil || p.ID == "" || p.UploadURL == "" || p.Status != "pending" {
		t.Fatalf("POST /v1/photos: %d %s, want 201 with a pending photo and an upload URL", resp.StatusCode, b)
	}
	put, _ := http.NewRequest(http.MethodPut, p.UploadURL, bytes.NewReader(body))
	put.Header.Set("Content-Type", contentType)
	presp, err := client.Do(put)
	if err != nil {
		t.Fatalf("PUT to the upload URL: %v", err)
	}
	presp.Body.Close()
	if presp.StatusCode != http.StatusOK {
		t.Fatalf("PUT to the upload URL answered %d", presp.StatusCode)
	}
	return p
}

// waitPhoto polls GET /v1/photos/{id} until the photo is no longer pending.
func waitPhoto(t *testing.T, client *http.Client, blogAPI, id string, timeout time.Duration) photoJSON {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(blogAPI + "/v1/photos/" + id)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var p photoJSON
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &p) != nil {
			t.Fatalf("GET /v1/photos/%s: %d %s", id, resp.StatusCode, b)
		}
		if p.Status != "pending" {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("photo %s still pending after %s", id, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// testJPEG is a w×h photo-like JPEG.
func testJPEG(t *testing.T, w, h int) []byte {
	t.Helper()
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x ^ y) & 0xFF), 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// testThumbnail: an admin uploads a JPEG through the blog flow and its 256-pixel
// thumbnail appears in the media bucket, the photo ready; so does an iPhone's HEIC; a
// text file named .jpg, and a PNG declared as a JPEG, end rejected with a reason, and
// the stack keeps running.
func testThumbnail(t *testing.T, s *localStack, client *http.Client) {
	blogAPI := s.stack.Services["blog-api"].URL
	token := adminToken(t, s.stack)
	s3c := s3.NewFromConfig(stackAWS(t, s.stack), func(o *s3.Options) { o.UsePathStyle = true })

	t.Run("a photo", func(t *testing.T) {
		start := time.Now()
		p := uploadPhoto(t, client, blogAPI, token, "image/jpeg", "sunset.jpg", testJPEG(t, 1600, 1200))
		got := waitPhoto(t, client, blogAPI, p.ID, 20*time.Second)
		t.Logf("upload -> ready: %v", time.Since(start).Round(time.Millisecond))
		if got.Status != "ready" || got.ThumbnailURL == nil || !strings.HasSuffix(*got.ThumbnailURL, "thumbnails/"+p.ID+".jpg") || got.Reason != "" {
			t.Fatalf("photo = %+v, want ready with thumbnails/%s.jpg", got, p.ID)
		}
		out, err := s3c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(s.stack.Resources.MediaBucket), Key: aws.String("thumbnails/" + p.ID + ".jpg")})
		if err != nil {
			t.Fatalf("the thumbnail is not in the media bucket: %v", err)
		}
		defer out.Body.Close()
		cfg, format, err := image.DecodeConfig(out.Body)
		if err != nil || format != "jpeg" {
			t.Fatalf("the thumbnail is not a JPEG: %v (%s)", err, format)
		}
		if cfg.Width != 256 || cfg.Height != 192 || aws.ToString(out.ContentType) != "image/jpeg" {
			t.Errorf("thumbnail %d×%d, %q; want 256×192 image/jpeg", cfg.Width, cfg.Height, aws.ToString(out.ContentType))
		}
	})

	t.Run("a HEIC from a phone", func(t *testing.T) {
		enc := imagetest.Tool(t, "heif-enc", "libheif-examples")
		heic := imagetest.Convert(t, enc, imagetest.Photo(1600, 1200, 3), nil, ".png", ".heic", "-q", "60", "-p", "preset=ultrafast", "-o", "OUT", "IN")
		p := uploadPhoto(t, client, blogAPI, token, "image/heic", "IMG_0042.HEIC", heic)
		got := waitPhoto(t, client, blogAPI, p.ID, 60*time.Second)
		if got.Status != "ready" || got.ThumbnailURL == nil {
			t.Fatalf("photo = %+v, want ready", got)
		}
		for key, ct := range map[string]string{"thumbnails/" + p.ID + ".jpg": "image/jpeg", "thumbnails/" + p.ID + ".webp": "image/webp"} {
			if ct == "image/webp" && got.ThumbnailWebPURL == nil {
				continue // the WebP was not smaller
			}
			out, err := s3c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(s.stack.Resources.MediaBucket), Key: aws.String(key)})
			if err != nil || aws.ToString(out.ContentType) != ct {
				t.Errorf("%s: %v, %v; want %s", key, out, err, ct)
			}
		}
	})

	t.Run("a PNG declared as a JPEG", func(t *testing.T) {
		var buf bytes.Buffer
		_ = png.Encode(&buf, imagetest.Photo(300, 200, 4))
		p := uploadPhoto(t, client, blogAPI, token, "image/jpeg", "drawing.jpg", buf.Bytes())
		got := waitPhoto(t, client, blogAPI, p.ID, 20*time.Second)
		if got.Status != "rejected" || !strings.Contains(got.Reason, "uploaded as image/jpeg") {
			t.Fatalf("photo = %+v, want rejected: not the declared type", got)
		}
	})

	t.Run("a text file named .jpg", func(t *testing.T) {
		p := uploadPhoto(t, client, blogAPI, token, "image/jpeg", "notes.jpg", []byte("these are my notes, not a photo\n"))
		got := waitPhoto(t, client, blogAPI, p.ID, 20*time.Second)
		if got.Status != "rejected" || got.Reason == "" || got.ThumbnailURL != nil {
			t.Fatalf("photo = %+v, want rejected with a reason", got)
		}
		t.Logf("reason: %s", got.Reason)
		if _, err := s3c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(s.stack.Resources.MediaBucket), Key: aws.String("thumbnails/" + p.ID + ".jpg")}); err == nil {
			t.Errorf("a thumbnail was written for a text file")
		}
		stackAlive(t, s)
	})
}
