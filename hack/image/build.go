package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The runtime configuration the Dockerfile's last stage gives the image
// (gcr.io/distroless/static:nonroot sets WorkingDir and Env; the Dockerfile
// states the rest). TestImage holds the two to the same values.
const (
	binaryPath = "/headless-guard"
	nonrootUID = 65532
	homeDir    = "/home/nonroot"
	caPath     = "/etc/ssl/certs/ca-certificates.crt"
)

var (
	entrypoint = []string{binaryPath}
	cmd        = []string{"serve"}
	// distroless static's environment: the same PATH, and SSL_CERT_FILE so
	// that Go finds the bundle wherever it looks first.
	env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"SSL_CERT_FILE=" + caPath,
	}
)

// labels are the Dockerfile's LABELs with its VERSION and COMMIT.
func labels(version, revision string) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       "headless-guard",
		"org.opencontainers.image.description": "Admission webhook and CI checker: every StatefulSet wired to a correct headless Service",
		"org.opencontainers.image.source":      "https://github.com/headless-guard/headless-guard",
		"org.opencontainers.image.version":     version,
		"org.opencontainers.image.revision":    revision,
	}
}

type buildOptions struct {
	platforms         []platformBinary
	out               string
	repository        string
	version, revision string
	caFile            string
	epoch             int64
	sbom              bool
}

// build writes the image index (one image per platform) as an OCI layout
// archive and returns its digest.
func build(o buildOptions) (v1.Hash, error) {
	when := time.Unix(o.epoch, 0).UTC()
	ca, err := os.ReadFile(o.caFile)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("the base layer's CA certificates: %w", err)
	}
	base, err := layer(baseEntries(ca), when)
	if err != nil {
		return v1.Hash{}, err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range o.platforms {
		bin, err := os.ReadFile(p.path)
		if err != nil {
			return v1.Hash{}, err
		}
		img, err := image(o, p, base, bin, when)
		if err != nil {
			return v1.Hash{}, fmt.Errorf("%s/%s: %w", p.os, p.arch, err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        img,
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: p.os, Architecture: p.arch}},
		})
		if o.sbom {
			doc, err := sbom(p.path, bin, o.version, when)
			if err != nil {
				return v1.Hash{}, err
			}
			if err := os.WriteFile(p.path+".spdx.json", doc, 0o644); err != nil {
				return v1.Hash{}, err
			}
		}
	}
	digest, err := idx.Digest()
	if err != nil {
		return v1.Hash{}, err
	}
	return digest, writeArchive(o.out, idx, o.repository, o.version, when)
}

// image is one platform's image: the base layer, then the binary's, as
// the Dockerfile's FROM and COPY make them.
func image(o buildOptions, p platformBinary, base v1.Layer, bin []byte, when time.Time) (v1.Image, error) {
	app, err := layer([]entry{{name: binaryPath[1:], mode: 0o755, data: bin}}, when)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{
		Architecture: p.arch,
		OS:           p.os,
		Created:      v1.Time{Time: when},
		Config: v1.Config{
			User:       fmt.Sprintf("%d:%d", nonrootUID, nonrootUID),
			Entrypoint: entrypoint,
			Cmd:        cmd,
			WorkingDir: homeDir,
			Env:        env,
			Labels:     labels(o.version, o.revision),
		},
		RootFS: v1.RootFS{Type: "layers"},
	})
	if err != nil {
		return nil, err
	}
	return mutate.Append(img,
		mutate.Addendum{Layer: base, MediaType: types.OCILayer, History: v1.History{Created: v1.Time{Time: when},
			CreatedBy: "hack/image: nonroot user and group 65532, /home/nonroot, /tmp, CA certificates (what headless-guard uses of gcr.io/distroless/static:nonroot)"}},
		mutate.Addendum{Layer: app, MediaType: types.OCILayer, History: v1.History{Created: v1.Time{Time: when},
			CreatedBy: "COPY headless-guard " + binaryPath}},
	)
}

// entry is one file or directory of a layer.
type entry struct {
	name     string
	dir      bool
	mode     int64
	uid, gid int
	data     []byte
}

// baseEntries are the files headless-guard needs of distroless static
// nonroot: the user it runs as (so that names resolve and a home exists),
// a writable /tmp and the CA bundle for TLS to anything outside the cluster.
func baseEntries(ca []byte) []entry {
	return []entry{
		{name: "etc", dir: true, mode: 0o755},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n")},
		{name: "etc/passwd", mode: 0o644, data: []byte(
			"root:x:0:0:root:/root:/sbin/nologin\n" +
				"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n" +
				"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "etc/ssl", dir: true, mode: 0o755},
		{name: "etc/ssl/certs", dir: true, mode: 0o755},
		{name: caPath[1:], mode: 0o644, data: ca},
		{name: "home", dir: true, mode: 0o755},
		{name: homeDir[1:], dir: true, mode: 0o700, uid: nonrootUID, gid: nonrootUID},
		{name: "tmp", dir: true, mode: 0o1777},
	}
}

// layer is a gzipped tar of entries, sorted by name, every time set to
// when and no user or group names: the same entries give the same digest.
func layer(entries []entry, when time.Time) (v1.Layer, error) {
	entries = slices.Clone(entries)
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: when, Format: tar.FormatUSTAR}
		if e.dir {
			h.Typeflag, h.Name = tar.TypeDir, e.name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(buf.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	data := gz.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// writeArchive writes idx as an OCI image layout (tagged version) into a
// temporary directory, then that directory into one tar, entries sorted
// and timed when.
func writeArchive(out string, idx v1.ImageIndex, repository, version string, when time.Time) error {
	dir, err := os.MkdirTemp(filepath.Dir(out), ".image-layout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	// ref.name is the OCI layout's tag; containerd (`ctr images import`,
	// Docker's containerd image store) names the image it imports after
	// io.containerd.image.name, the repository the chart pulls by default.
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": version,
		"io.containerd.image.name":          repository + ":" + version,
	})); err != nil {
		return err
	}
	var entries []entry
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			entries = append(entries, entry{name: filepath.ToSlash(rel), dir: true, mode: 0o755})
			return nil
		}
		data, err := os.ReadFile(path)
		entries = append(entries, entry{name: filepath.ToSlash(rel), mode: 0o644, data: data})
		return err
	})
	if err != nil {
		return err
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.name, b.name) })
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: when, Typeflag: tar.TypeReg, Size: int64(len(e.data)), Format: tar.FormatUSTAR}
		if e.dir {
			h.Typeflag, h.Name, h.Size = tar.TypeDir, e.name+"/", 0
		}
		if err := tw.WriteHeader(h); err != nil {
			f.Close()
			return err
		}
		if _, err := tw.Write(e.data); err != nil {
			f.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
