package cluster

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	kobuild "github.com/google/ko/pkg/build"
	"github.com/google/ko/pkg/commands"
	"github.com/google/ko/pkg/commands/options"
	"github.com/google/ko/pkg/publish"
)

// images is the in-process registry the tier pushes the services' images to,
// and the ko:// references resolved into it.
type images struct {
	srv  *httptest.Server
	host string
	// base is the stand-in base image: ko.yaml's distroless base cannot be
	// pulled without the internet. An empty linux/amd64 image whose user is
	// distroless's nonroot (65532); ko adds the binary layer as for the real one.
	base string
}

// startRegistry serves a registry (go-containerregistry's, in this process) on
// loopback and pushes the stand-in base image to it.
func startRegistry() (*images, error) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	im := &images{srv: srv, host: strings.TrimPrefix(srv.URL, "http://")}
	base, err := im.pushBase()
	if err != nil {
		srv.Close()
		return nil, err
	}
	im.base = base
	return im, nil
}

func (im *images) pushBase() (string, error) {
	cf, err := empty.Image.ConfigFile()
	if err != nil {
		return "", err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Config.User = "65532"
	img, err := mutate.ConfigFile(empty.Image, cf)
	if err != nil {
		return "", err
	}
	tag, err := name.NewTag(im.host+"/base/static:nonroot", name.Insecure)
	if err != nil {
		return "", err
	}
	if err := remote.Write(tag, img); err != nil {
		return "", fmt.Errorf("push the stand-in base image: %w", err)
	}
	d, err := img.Digest()
	if err != nil {
		return "", err
	}
	return tag.Context().Digest(d.String()).String(), nil
}

// ko returns ko's builder and publisher as `ko resolve --base-import-paths`
// and `ko build --base-import-paths` make them: ko.yaml's settings
// (KO_CONFIG_PATH), linux/amd64, pushing to the registry.
func (im *images) ko(ctx context.Context, root string) (*kobuild.Caching, publish.Interface, error) {
	if err := os.Setenv("KO_CONFIG_PATH", filepath.Join(root, "ko.yaml")); err != nil {
		return nil, nil, err
	}
	bo := &options.BuildOptions{
		// Set before LoadConfig: replaces ko.yaml's defaultBaseImage only.
		BaseImage:        im.base,
		Platforms:        []string{"linux/amd64"},
		SBOM:             "none",
		InsecureRegistry: true,
		WorkingDirectory: root,
	}
	if err := bo.LoadConfig(); err != nil {
		return nil, nil, fmt.Errorf("ko.yaml: %w", err)
	}
	builder, err := commands.NewBuilder(ctx, bo)
	if err != nil {
		return nil, nil, err
	}
	caching, ok := builder.(*kobuild.Caching)
	if !ok {
		return nil, nil, fmt.Errorf("ko's builder is a %T, not the caching builder ResolveFilesToWriter takes", builder)
	}
	publisher, err := commands.NewPublisher(&options.PublishOptions{
		DockerRepo:       im.host + "/serverless-architect",
		Push:             true,
		InsecureRegistry: true,
		BaseImportPaths:  true,
		Tags:             []string{"latest"},
	})
	if err != nil {
		return nil, nil, err
	}
	return caching, publisher, nil
}

// resolve runs `ko resolve -f <files>` and returns the resolved YAML.
func (im *images) resolve(ctx context.Context, root string, files ...string) ([]byte, error) {
	builder, publisher, err := im.ko(ctx, root)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	err = commands.ResolveFilesToWriter(ctx, builder, publisher, &options.FilenameOptions{Filenames: files}, &options.SelectorOptions{}, nopWriteCloser{&out})
	if err != nil {
		return nil, fmt.Errorf("ko resolve: %w", err)
	}
	return out.Bytes(), nil
}

// build runs `ko build` for each import path, as hack/deploy.sh --helm does, and
// returns each one's digest reference.
func (im *images) build(ctx context.Context, root string, importPaths ...string) (map[string]string, error) {
	builder, publisher, err := im.ko(ctx, root)
	if err != nil {
		return nil, err
	}
	refs := map[string]string{}
	for _, ip := range importPaths {
		ref := kobuild.StrictScheme + ip
		result, err := builder.Build(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("ko build %s: %w", ip, err)
		}
		r, err := publisher.Publish(ctx, result, ref)
		if err != nil {
			return nil, fmt.Errorf("ko publish %s: %w", ip, err)
		}
		refs[ip] = r.String()
	}
	return refs, nil
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// pullable reports whether an image reference is in the registry, as a kubelet
// would find it (kwok does not pull).
func (im *images) pullable(ref string) error {
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		return err
	}
	desc, err := remote.Get(r)
	if err != nil {
		return err
	}
	img, err := desc.Image()
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		return fmt.Errorf("%s is %s/%s, the nodes are linux/amd64", ref, cf.OS, cf.Architecture)
	}
	return nil
}
