package framework

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/headless-guard/headless-guard/test/cluster"
)

// HelmBinary is Helm 4 (helm) from KUBEBUILDER_ASSETS, else <root>/bin,
// as test/cluster finds the other binaries of a cluster.
func HelmBinary(t *testing.T) string {
	t.Helper()
	return FindHelm(t, "helm")
}

// FindHelm finds the helm binary name in KUBEBUILDER_ASSETS, else <root>/bin.
func FindHelm(t *testing.T, name string) string {
	t.Helper()
	root := RepoRoot(t)
	dirs := []string{cluster.AssetsDir(root), filepath.Join(root, "bin")}
	for _, d := range dirs {
		if p := filepath.Join(d, name); FileExists(p) {
			return p
		}
	}
	t.Fatalf("%s not found in %s: run `make -f hack/tools.mk bin/%s`", name, strings.Join(dirs, " or "), name)
	return ""
}

// FileExists reports whether p exists.
func FileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// RepoRoot is the root of the repository under test.
func RepoRoot(t *testing.T) string {
	t.Helper()
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// ReadFile is the content of path; the test fails when it cannot be read.
func ReadFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
