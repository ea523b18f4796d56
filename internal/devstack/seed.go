package devstack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	ciptypes "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"

	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// The demo accounts `sa seed` makes. The password is printed: local stacks only.
const (
	SeedUser     = "demo@example.com"
	SeedAdmin    = "admin@example.com"
	SeedPassword = "Demo-Passw0rd!"
)

// seedPosts are the posts `sa seed` writes (slug, title, Markdown body, tags).
var seedPosts = []struct{ slug, title, body string }{
	{"welcome", "Welcome to MyBlog", "This post was written by `sa seed`.\n\nSubscribe below to get a welcome email."},
	{"local-stack", "How the local stack works", "Every service runs as a process; **moto** plays AWS.\n\n- DynamoDB\n- S3\n- Cognito"},
	{"photos", "Photos and thumbnails", "An uploaded photo gets a thumbnail from the *thumbnailer*, through S3 events."},
}

// Seed fills the running stack in dir with demo data, through the same APIs the apps
// use: a user with a to-do, an admin (in the admins group), posts, and a photo. It
// can run again: what exists is kept. It writes what it did, and how to sign in, to out.
func Seed(ctx context.Context, dir string, out io.Writer) error {
	st, err := stack.Read(filepath.Join(dir, "stack.json"))
	if err != nil {
		return fmt.Errorf("no local stack is running from %s (start it with make dev): %w", dir, err)
	}
	client, err := httpsClient(st.CAFile)
	if err != nil {
		return err
	}
	idp := cip.NewFromConfig(motoConfig(st.Region, st.AWSEndpoint))
	res := st.Resources
	tokens := map[string]string{}
	for _, u := range []struct {
		email string
		admin bool
	}{{SeedUser, false}, {SeedAdmin, true}} {
		tok, err := seedUser(ctx, idp, res.UserPoolID, res.UserPoolClientID, res.AdminsGroup, u.email, u.admin)
		if err != nil {
			return err
		}
		tokens[u.email] = tok
		fmt.Fprintf(out, "user  %s (password %s)%s\n", u.email, SeedPassword, map[bool]string{true: ", in the admins group"}[u.admin])
	}
	if st.APIURL != "" {
		if err := seedTodo(ctx, client, st.APIURL, tokens[SeedUser], out); err != nil {
			return err
		}
	}
	blog := st.Services["blog-api"].URL
	if blog == "" {
		fmt.Fprintln(out, "no blog-api in this stack: no posts or photos")
		return nil
	}
	for _, p := range seedPosts {
		code, body, err := seedCall(ctx, client, http.MethodPost, blog+"/v1/posts", tokens[SeedAdmin], map[string]any{"slug": p.slug, "title": p.title, "body": p.body, "tags": []string{"demo"}})
		switch {
		case err != nil:
			return fmt.Errorf("seed post %s: %w", p.slug, err)
		case code == http.StatusConflict:
			fmt.Fprintf(out, "post  %s (already there)\n", p.slug)
		case code == http.StatusCreated:
			fmt.Fprintf(out, "post  %s\n", p.slug)
		default:
			return fmt.Errorf("seed post %s: blog-api answered %d %s", p.slug, code, body)
		}
	}
	id, err := seedPhoto(ctx, client, blog, tokens[SeedAdmin])
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "photo %s (its thumbnail follows: GET %s/v1/photos/%s)\n", id, blog, id)
	fmt.Fprintf(out, "\nSign in:\n  go run ./cmd/todo login --email %s   (password %s)\n", SeedUser, SeedPassword)
	if st.BlogURL != "" {
		fmt.Fprintf(out, "  %s/admin.html as %s (same password)\n", st.BlogURL, SeedAdmin)
	}
	return nil
}

// seedTodoTitle is the title of the demo user's to-do.
const seedTodoTitle = "Try the local stack"

// seedTodo gives the demo user its to-do through the to-do API, unless it has it.
func seedTodo(ctx context.Context, client *http.Client, api, token string, out io.Writer) error {
	code, body, err := seedCall(ctx, client, http.MethodGet, api+"/v1/todos?limit=100", token, nil)
	if err != nil || code != http.StatusOK {
		return fmt.Errorf("seed: list %s's to-dos: %d %s %v", SeedUser, code, body, err)
	}
	var list struct{ Items []struct{ Title string } }
	if err := json.Unmarshal(body, &list); err != nil {
		return fmt.Errorf("seed: list %s's to-dos: %w", SeedUser, err)
	}
	for _, it := range list.Items {
		if it.Title == seedTodoTitle {
			fmt.Fprintf(out, "to-do for %s (already there)\n", SeedUser)
			return nil
		}
	}
	code, body, err = seedCall(ctx, client, http.MethodPost, api+"/v1/todos", token, map[string]any{"title": seedTodoTitle, "notes": "made by sa seed"})
	if err != nil || code != http.StatusCreated {
		return fmt.Errorf("seed a to-do for %s: %d %s %v", SeedUser, code, body, err)
	}
	fmt.Fprintf(out, "to-do for %s\n", SeedUser)
	return nil
}

// seedUser makes (or finds) a confirmed user with SeedPassword, in the admins group if
// admin, and returns its id token.
func seedUser(ctx context.Context, idp *cip.Client, pool, appClient, admins, email string, admin bool) (string, error) {
	_, err := idp.SignUp(ctx, &cip.SignUpInput{ClientId: aws.String(appClient), Username: aws.String(email), Password: aws.String(SeedPassword),
		UserAttributes: []ciptypes.AttributeType{{Name: aws.String("email"), Value: aws.String(email)}}})
	var exists *ciptypes.UsernameExistsException
	switch {
	case errors.As(err, &exists):
		// Seeded before (or made by hand): make sure the printed password works.
		if _, err := idp.AdminSetUserPassword(ctx, &cip.AdminSetUserPasswordInput{UserPoolId: aws.String(pool), Username: aws.String(email), Password: aws.String(SeedPassword), Permanent: true}); err != nil {
			return "", fmt.Errorf("seed user %s: set its password: %w", email, err)
		}
	case err != nil:
		return "", fmt.Errorf("seed user %s: sign up: %w", email, err)
	default:
		if _, err := idp.AdminConfirmSignUp(ctx, &cip.AdminConfirmSignUpInput{UserPoolId: aws.String(pool), Username: aws.String(email)}); err != nil {
			return "", fmt.Errorf("seed user %s: confirm: %w", email, err)
		}
	}
	if admin {
		if _, err := idp.AdminAddUserToGroup(ctx, &cip.AdminAddUserToGroupInput{UserPoolId: aws.String(pool), Username: aws.String(email), GroupName: aws.String(admins)}); err != nil {
			return "", fmt.Errorf("seed user %s: add to %s: %w", email, admins, err)
		}
	}
	auth, err := idp.InitiateAuth(ctx, &cip.InitiateAuthInput{AuthFlow: ciptypes.AuthFlowTypeUserPasswordAuth, ClientId: aws.String(appClient),
		AuthParameters: map[string]string{"USERNAME": email, "PASSWORD": SeedPassword}})
	if err != nil || auth.AuthenticationResult == nil {
		return "", fmt.Errorf("seed user %s: sign in: %v", email, err)
	}
	return aws.ToString(auth.AuthenticationResult.IdToken), nil
}

// seedPhoto creates a photo through blog-api and uploads a small JPEG to its URL.
func seedPhoto(ctx context.Context, client *http.Client, blog, token string) (string, error) {
	code, body, err := seedCall(ctx, client, http.MethodPost, blog+"/v1/photos", token, map[string]any{"contentType": "image/jpeg", "filename": "seed.jpg"})
	if err != nil || code != http.StatusCreated {
		return "", fmt.Errorf("seed photo: blog-api answered %d %s %v", code, body, err)
	}
	var photo struct{ ID, UploadURL string }
	if err := json.Unmarshal(body, &photo); err != nil || photo.UploadURL == "" {
		return "", fmt.Errorf("seed photo: blog-api's answer %s has no uploadUrl", body)
	}
	img := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := range 480 {
		for x := range 640 {
			img.Set(x, y, color.RGBA{uint8(x / 3), uint8(y / 2), 160, 255})
		}
	}
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, img, &jpeg.Options{Quality: 85}); err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, photo.UploadURL, &jpg)
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "image/jpeg")
	// The presigned URL points at moto over plain HTTP.
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("seed photo: upload: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		return "", fmt.Errorf("seed photo: upload answered %s: %s", resp.Status, b)
	}
	return photo.ID, nil
}

// seedCall sends a request, with body as JSON unless nil, and a bearer token, and
// returns the status and body.
func seedCall(ctx context.Context, client *http.Client, method, url, token string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	return resp.StatusCode, rb, err
}
