package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ci "github.com/aws/aws-sdk-go-v2/service/cognitoidentity"
	"github.com/spf13/cobra"

	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/api"
	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/files"
	"github.com/serverless-architect/serverless-architect/cmd/todo/internal/output"
	"github.com/serverless-architect/serverless-architect/internal/awsconf"
	"github.com/serverless-architect/serverless-architect/internal/stack"
)

// The three ways to reach the folder (--via).
const (
	viaIdentity = "identity"
	viaVend     = "vend"
	viaPresign  = "presign"
)

type filesFlags struct {
	via         string
	contentType string
	concurrency int
	partSize    int64
}

func (a *app) filesCmd() *cobra.Command {
	ff := &filesFlags{}
	cmd := &cobra.Command{
		Use:   "files",
		Short: "Your own folder in the files bucket: put, get, ls, rm",
		Long: `files works on your own folder of the files bucket, in one of three ways (--via):

  identity  (default) what the mobile app does: exchange your id token with the Cognito
            Identity Pool for temporary AWS credentials (cached next to the session until
            shortly before they expire), then call S3 directly
  vend      get temporary credentials from the API (POST /v1/files/credentials), then
            call S3 directly
  presign   ask the API for presigned URLs, then plain HTTPS to S3

Every way reaches the same folder, users/<your user pool sub>/, which the API states
(the prefix of GET /v1/files and of the credentials): the CLI never builds it.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&ff.via, "via", viaIdentity, "identity, vend or presign")
	pf.IntVar(&ff.concurrency, "concurrency", files.DefaultConcurrency, "parts in flight for multipart transfers (identity, vend)")
	pf.Int64Var(&ff.partSize, "part-size", files.DefaultPartSize, "bytes per part for multipart transfers (identity, vend)")
	cmd.AddCommand(a.filesPutCmd(ff), a.filesGetCmd(ff), a.filesLsCmd(ff), a.filesRmCmd(ff))
	return cmd
}

// folderAccess is what a command needs for the chosen flow.
type folderAccess struct {
	store *files.Store // identity, vend
	api   *files.API   // vend, presign
}

func (a *app) filesAPI() (*files.API, error) {
	s, err := a.settings()
	if err != nil {
		return nil, err
	}
	if err := s.NeedAPI(); err != nil {
		return nil, err
	}
	hc, err := api.HTTPClient(s.CAFile)
	if err != nil {
		return nil, err
	}
	k, err := a.sessions()
	if err != nil {
		return nil, err
	}
	c, err := api.New(s.APIURL, hc, k.Token)
	if err != nil {
		return nil, err
	}
	return &files.API{Client: c, HTTP: hc}, nil
}

// access builds the flow's clients.
func (a *app) access(ctx context.Context, ff *filesFlags) (*folderAccess, error) {
	switch ff.via {
	case viaPresign:
		fa, err := a.filesAPI()
		return &folderAccess{api: fa}, err
	case viaVend:
		fa, err := a.filesAPI()
		if err != nil {
			return nil, err
		}
		v := &files.Vended{API: fa}
		g, err := v.Grant(ctx)
		if err != nil {
			return nil, err
		}
		st, err := a.s3Store(ctx, v, g.Region, ff)
		if err != nil {
			return nil, err
		}
		st.Bucket, st.Folder = g.Bucket, g.Prefix
		return &folderAccess{store: st, api: fa}, nil
	case viaIdentity:
		fa, err := a.filesAPI()
		if err != nil {
			return nil, err
		}
		folder, err := fa.Folder(ctx)
		if err != nil {
			return nil, err
		}
		s, err := a.settings()
		if err != nil {
			return nil, err
		}
		if s.StackFile == "" {
			return nil, errors.New("--via identity needs the stack file (identity pool, bucket): pass --stack or run make dev")
		}
		st, err := stack.Read(s.StackFile)
		if err != nil {
			return nil, err
		}
		r := st.Resources
		if r.IdentityPoolID == "" || r.FilesBucket == "" || r.Issuer == "" {
			return nil, fmt.Errorf("the stack file %s names no identity pool or files bucket (provision again with a newer sa)", s.StackFile)
		}
		if err := s.NeedRegion(); err != nil {
			return nil, err
		}
		cfg, err := awsconf.Load(ctx, awsconf.Options{Region: s.Region, Anonymous: true})
		if err != nil {
			return nil, err
		}
		idAPI := ci.NewFromConfig(cfg, func(o *ci.Options) {
			if s.CognitoEndpoint != "" {
				o.BaseEndpoint = aws.String(s.CognitoEndpoint)
			}
		})
		k, err := a.sessions()
		if err != nil {
			return nil, err
		}
		sp, err := a.store()
		if err != nil {
			return nil, err
		}
		pool := &files.IdentityPool{
			API: idAPI, PoolID: r.IdentityPoolID, Provider: strings.TrimPrefix(r.Issuer, "https://"),
			Cache: files.Cache{Path: files.CachePath(sp.Path)}, Now: a.now,
			Login: func(ctx context.Context) (string, string, error) {
				sess, err := k.Fresh(ctx)
				if err != nil {
					return "", "", err
				}
				return sess.IDToken, sess.Sub, nil
			},
		}
		store, err := a.s3Store(ctx, pool, s.Region, ff)
		if err != nil {
			return nil, err
		}
		store.Bucket, store.Folder = r.FilesBucket, folder
		return &folderAccess{store: store, api: fa}, nil
	}
	return nil, fmt.Errorf("--via %q: want identity, vend or presign", ff.via)
}

// s3Store builds an S3 client with creds; the endpoint is the stack's (moto), with
// path-style addressing whenever an endpoint is overridden.
func (a *app) s3Store(ctx context.Context, creds aws.CredentialsProvider, region string, ff *filesFlags) (*files.Store, error) {
	s, err := a.settings()
	if err != nil {
		return nil, err
	}
	if region == "" {
		region = s.Region
	}
	cfg, err := awsconf.Load(ctx, awsconf.Options{Region: region, Anonymous: true})
	if err != nil {
		return nil, err
	}
	endpoint := s.CognitoEndpoint // the stack's awsEndpoint, unless AWS_ENDPOINT_URL* is set
	pathStyle := endpoint != "" || a.getenv("AWS_ENDPOINT_URL") != "" || a.getenv("AWS_ENDPOINT_URL_S3") != ""
	return &files.Store{S3: files.NewS3(cfg, creds, endpoint, pathStyle), PartSize: ff.partSize, Concurrency: ff.concurrency}, nil
}

func (a *app) filesPutCmd(ff *filesFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "put LOCAL [KEY]",
		Short: "Upload a local file to KEY in your folder (default: the file's name)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			local := args[0]
			key := filepath.Base(local)
			if len(args) == 2 {
				key = args[1]
			}
			key, err := files.CleanKey(key)
			if err != nil {
				return err
			}
			f, err := os.Open(local)
			if err != nil {
				return fmt.Errorf("open %s: %w", local, err)
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return fmt.Errorf("stat %s: %w", local, err)
			}
			ct := ff.contentType
			if ct == "" {
				ct = mime.TypeByExtension(filepath.Ext(local))
			}
			if ct == "" {
				ct = "application/octet-stream"
			}
			fa, err := a.access(cmd.Context(), ff)
			if err != nil {
				return err
			}
			start := time.Now()
			if fa.store != nil {
				err = fa.store.Put(cmd.Context(), key, f, ct)
			} else {
				var up files.SignedUpload
				if up, err = fa.api.UploadURL(cmd.Context(), key, ct, fi.Size()); err == nil {
					err = files.PutPresigned(cmd.Context(), fa.api.HTTP, up, f, fi.Size())
				}
			}
			if err != nil {
				return err
			}
			if a.json {
				return output.Value(a.stdout, map[string]any{"key": key, "size": fi.Size(), "contentType": ct, "via": ff.via})
			}
			a.printf("uploaded %s (%d bytes, %s) in %s\n", key, fi.Size(), ct, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	cmd.Flags().StringVar(&ff.contentType, "content-type", "", "content type (default: from the file name)")
	return cmd
}

func (a *app) filesGetCmd(ff *filesFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "get KEY [LOCAL|-]",
		Short: "Download KEY from your folder (default: to a file named like the key's last part; - for stdout)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := files.CleanKey(args[0])
			if err != nil {
				return err
			}
			local := key[strings.LastIndex(key, "/")+1:]
			if len(args) == 2 {
				local = args[1]
			}
			fa, err := a.access(cmd.Context(), ff)
			if err != nil {
				return err
			}
			if local == "-" {
				if fa.store != nil {
					buf := &writerAtBuffer{}
					if _, err := fa.store.Get(cmd.Context(), key, buf); err != nil {
						return err
					}
					_, err := a.stdout.Write(buf.b)
					return err
				}
				d, err := fa.api.DownloadURL(cmd.Context(), key)
				if err != nil {
					return err
				}
				_, err = files.GetPresigned(cmd.Context(), fa.api.HTTP, d, a.stdout)
				return err
			}
			tmp, err := os.CreateTemp(filepath.Dir(local), ".todo-get-*")
			if err != nil {
				return fmt.Errorf("create %s: %w", local, err)
			}
			defer os.Remove(tmp.Name())
			var n int64
			if fa.store != nil {
				n, err = fa.store.Get(cmd.Context(), key, tmp)
			} else {
				var d files.SignedDownload
				if d, err = fa.api.DownloadURL(cmd.Context(), key); err == nil {
					n, err = files.GetPresigned(cmd.Context(), fa.api.HTTP, d, tmp)
				}
			}
			if cerr := tmp.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if err := os.Rename(tmp.Name(), local); err != nil {
				return fmt.Errorf("save %s: %w", local, err)
			}
			if a.json {
				return output.Value(a.stdout, map[string]any{"key": key, "size": n, "file": local, "via": ff.via})
			}
			a.printf("downloaded %s to %s (%d bytes)\n", key, local, n)
			return nil
		},
	}
}

func (a *app) filesLsCmd(ff *filesFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "ls [PREFIX]",
		Short: "List your objects (under PREFIX)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			prefix := ""
			if len(args) == 1 {
				prefix = args[0]
			}
			prefix, err := files.CleanPrefix(prefix)
			if err != nil {
				return err
			}
			fa, err := a.access(cmd.Context(), ff)
			if err != nil {
				return err
			}
			var items []files.Item
			var folder string
			if fa.store != nil {
				folder = fa.store.Folder
				items, err = fa.store.List(cmd.Context(), prefix)
			} else {
				folder, items, err = fa.api.ListAll(cmd.Context(), prefix)
			}
			if err != nil {
				return err
			}
			if items == nil {
				items = []files.Item{}
			}
			if a.json {
				return output.Value(a.stdout, map[string]any{"prefix": folder, "items": items})
			}
			for _, it := range items {
				a.printf("%12d  %s  %s\n", it.Size, it.LastModified.UTC().Format(time.RFC3339), it.Key)
			}
			return nil
		},
	}
}

func (a *app) filesRmCmd(ff *filesFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "rm KEY",
		Short: "Delete KEY from your folder (--via identity or vend)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if ff.via == viaPresign {
				return errors.New("rm: the API signs no deletes; use --via identity or --via vend")
			}
			fa, err := a.access(cmd.Context(), ff)
			if err != nil {
				return err
			}
			if err := fa.store.Delete(cmd.Context(), args[0]); err != nil {
				return err
			}
			if !a.json {
				a.printf("deleted %s\n", args[0])
			}
			return nil
		},
	}
}

// writerAtBuffer is an in-memory io.WriterAt for downloads to stdout.
type writerAtBuffer struct{ b []byte }

func (w *writerAtBuffer) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(w.b) {
		w.b = append(w.b, make([]byte, end-len(w.b))...)
	}
	copy(w.b[off:], p)
	return len(p), nil
}

var _ io.WriterAt = (*writerAtBuffer)(nil)
