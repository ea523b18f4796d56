package sitedeploy

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// Prebuilt is a site a bundler has already built (the MyTodoList app: esbuild names
// its assets by content hash and writes them into index.html and the service worker's
// precache list): its files are published as they are, without renaming. Keys under
// one of the immutable directories (e.g. "assets/") carry their hash and get
// ImmutableCacheControl; every other file (index.html, sw.js, the manifest, icons)
// keeps a name others depend on and gets HTMLCacheControl, as do the generated files
// extra (config.json). Dot files are skipped.
func Prebuilt(fsys fs.FS, extra map[string][]byte, immutable ...string) (*Site, error) {
	site := &Site{}
	add := func(key string, body []byte, generated bool) error {
		ct, err := ContentType(key)
		if err != nil {
			return err
		}
		f := File{Key: key, Source: key, Body: body, ContentType: ct, CacheControl: HTMLCacheControl}
		if generated {
			f.Source = ""
		}
		for _, dir := range immutable {
			if strings.HasPrefix(key, strings.TrimSuffix(dir, "/")+"/") && !generated {
				f.CacheControl, f.Fingerprinted = ImmutableCacheControl, true
			}
		}
		site.Files = append(site.Files, f)
		return nil
	}
	err := walkFiles(fsys, func(p string, body []byte) error {
		if _, clash := extra[p]; clash {
			return fmt.Errorf("generated file %s would replace the build's own %s", p, p)
		}
		return add(p, body, false)
	})
	if err != nil {
		return nil, fmt.Errorf("read build: %w", err)
	}
	if len(site.Files) == 0 {
		return nil, fmt.Errorf("read build: no files (was it built?)")
	}
	for k, v := range extra {
		if err := add(k, v, true); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(site.Files, func(a, b File) int { return strings.Compare(a.Key, b.Key) })
	return site, nil
}
