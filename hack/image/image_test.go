package main

import (
	"archive/tar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// buildTestArchive builds an image of this test binary (a Go binary with
// build information, as the SBOM needs) for linux/amd64 and linux/arm64.
func buildTestArchive(t *testing.T, out string) v1.Hash {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "headless-guard-linux-amd64")
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	digest, err := build(buildOptions{
		platforms:  []platformBinary{{"linux", "amd64", bin}, {"linux", "arm64", bin}},
		out:        out,
		repository: "example.test/headless-guard",
		version:    "v1.2.3",
		revision:   "abc1234",
		caFile:     ca,
		epoch:      1700000000,
		sbom:       true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return digest
}

// TestPush pushes an archive to a registry (go-containerregistry's, the
// one its own tests use, served over HTTP) and reads it back by tag.
func TestPush(t *testing.T) {
	archive := filepath.Join(t.TempDir(), "image.tar")
	digest := buildTestArchive(t, archive)

	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ref := host + "/headless-guard:v1.2.3"
	pushed, err := push(archive, ref)
	if err != nil {
		t.Fatal(err)
	}
	if want := host + "/headless-guard@" + digest.String(); pushed != want {
		t.Errorf("push printed %s, want %s", pushed, want)
	}

	tag, err := name.NewTag(ref)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(tag)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := idx.Digest(); err != nil || got != digest {
		t.Fatalf("the registry serves %s (%v) at %s, the archive holds %s", got, err, ref, digest)
	}
	img, err := remote.Image(tag, remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "arm64"}))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Architecture != "arm64" || cfg.Config.User != "65532:65532" || cfg.Config.Labels["org.opencontainers.image.revision"] != "abc1234" {
		t.Errorf("pulled linux/arm64 config: %s, user %s, labels %v", cfg.Architecture, cfg.Config.User, cfg.Config.Labels)
	}
}

// TestUntarStaysInside refuses an archive entry that would be written
// outside the directory push extracts into.
func TestUntarStaysInside(t *testing.T) {
	archive := filepath.Join(t.TempDir(), "evil.tar")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(f)
	if err := tw.WriteHeader(&tar.Header{Name: "../escaped", Typeflag: tar.TypeReg, Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	dir := t.TempDir()
	if err := untar(archive, dir); err == nil || !strings.Contains(err.Error(), "leaves") {
		t.Errorf("untar of ../escaped: %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escaped")); err == nil {
		t.Errorf("../escaped was written")
	}
}
