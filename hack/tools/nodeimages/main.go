// Command nodeimages builds the images the test node (test/cluster's Node,
// `make e2e-node`) runs besides headless-guard's, without a Docker engine,
// as OCI image archives `ctr images import` reads:
//
//	pause.tar    registry.k8s.io/pause:3.10.2 (containerd 2.4's sandbox
//	             image) from ./pause
//	toolbox.tar  headless-guard.test/toolbox:v1 from ./toolbox: the seeds'
//	             nslookup, a web server, a file write
//
//	nodeimages -dir bin/node-images -platform linux/amd64
//
// reads the static binaries DIR/pause and DIR/toolbox and writes the
// archives beside them. Every time in them is 0: the same binaries give
// the same digests. It is a module of its own, as hack/image is, so that
// go-containerregistry stays out of every other build list.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// image is one image to build: a single layer of files and links.
type image struct {
	archive, ref string
	binary       string // the file of DIR copied to /<binary>
	links        []string
	user         string
	entrypoint   []string
	cmd          []string
}

var images = []image{
	{archive: "pause.tar", ref: "registry.k8s.io/pause:3.10.2", binary: "pause", user: "65535:65535", entrypoint: []string{"/pause"}},
	{archive: "toolbox.tar", ref: "headless-guard.test/toolbox:v1", binary: "toolbox",
		links: []string{"bin/nslookup", "bin/serve", "bin/touch"}, entrypoint: []string{"/toolbox"}, cmd: []string{"serve", ":80"}},
}

func main() {
	dir := flag.String("dir", "bin/node-images", "the directory of the binaries, where the archives are written")
	platform := flag.String("platform", "linux/amd64", "the images' OS/ARCH")
	flag.Parse()
	goos, goarch, ok := strings.Cut(*platform, "/")
	if !ok {
		fmt.Fprintln(os.Stderr, "nodeimages: -platform OS/ARCH")
		os.Exit(2)
	}
	for _, img := range images {
		digest, err := build(*dir, goos, goarch, img)
		if err != nil {
			fmt.Fprintf(os.Stderr, "nodeimages: %s: %v\n", img.ref, err)
			os.Exit(1)
		}
		fmt.Printf("%s %s %s\n", filepath.Join(*dir, img.archive), img.ref, digest)
	}
}

var epoch = time.Unix(0, 0).UTC()

func build(dir, goos, goarch string, img image) (v1.Hash, error) {
	bin, err := os.ReadFile(filepath.Join(dir, img.binary))
	if err != nil {
		return v1.Hash{}, err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	headers := []*tar.Header{
		{Name: "bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "etc/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777},
	}
	for _, h := range headers {
		h.ModTime, h.Format = epoch, tar.FormatUSTAR
		if err := tw.WriteHeader(h); err != nil {
			return v1.Hash{}, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: img.binary, Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(bin)), ModTime: epoch, Format: tar.FormatUSTAR}); err != nil {
		return v1.Hash{}, err
	}
	if _, err := tw.Write(bin); err != nil {
		return v1.Hash{}, err
	}
	for _, l := range img.links {
		if err := tw.WriteHeader(&tar.Header{Name: l, Typeflag: tar.TypeSymlink, Linkname: "/" + img.binary, Mode: 0o777, ModTime: epoch, Format: tar.FormatUSTAR}); err != nil {
			return v1.Hash{}, err
		}
	}
	if err := tw.Close(); err != nil {
		return v1.Hash{}, err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := zw.Write(buf.Bytes()); err != nil {
		return v1.Hash{}, err
	}
	if err := zw.Close(); err != nil {
		return v1.Hash{}, err
	}
	data := gz.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return v1.Hash{}, err
	}
	i := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	i = mutate.ConfigMediaType(i, types.OCIConfigJSON)
	i, err = mutate.ConfigFile(i, &v1.ConfigFile{
		Architecture: goarch, OS: goos, Created: v1.Time{Time: epoch},
		Config: v1.Config{User: img.user, Entrypoint: img.entrypoint, Cmd: img.cmd, Env: []string{"PATH=/bin"}},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return v1.Hash{}, err
	}
	i, err = mutate.Append(i, mutate.Addendum{Layer: layer, MediaType: types.OCILayer,
		History: v1.History{Created: v1.Time{Time: epoch}, CreatedBy: "hack/tools/nodeimages: /" + img.binary}})
	if err != nil {
		return v1.Hash{}, err
	}
	digest, err := i.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	return digest, writeArchive(filepath.Join(dir, img.archive), i, img.ref)
}

// writeArchive writes img as an OCI image layout tagged ref, as one tar.
func writeArchive(out string, img v1.Image, ref string) error {
	tmp, err := os.MkdirTemp(filepath.Dir(out), ".layout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return err
	}
	// io.containerd.image.name: the name `ctr images import` gives it.
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": ref[strings.LastIndex(ref, ":")+1:],
		"io.containerd.image.name":          ref,
	})); err != nil {
		return err
	}
	f, err := os.Create(out + ".tmp")
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(tmp, func(path string, d os.DirEntry, err error) error {
		if err != nil || path == tmp {
			return err
		}
		rel, _ := filepath.Rel(tmp, path)
		if d.IsDir() {
			return tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel) + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: epoch, Format: tar.FormatUSTAR})
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Name: filepath.ToSlash(rel), Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data)), ModTime: epoch, Format: tar.FormatUSTAR}); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	})
	if err == nil {
		err = tw.Close()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out + ".tmp")
		return err
	}
	return os.Rename(out+".tmp", out)
}
