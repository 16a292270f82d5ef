package cluster

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// GuardBinary is <root>/bin/headless-guard when it is at least as new as
// every file it is built from (so `make build` output is used as is), and
// otherwise a build of the current sources, cached by their content in the
// user cache directory so that test packages running in parallel and later
// runs share it. It is resolved once per process.
func GuardBinary(root string) (string, error) {
	binaryOnce.Do(func() { binaryPath, binaryErr = resolveGuardBinary(root) })
	return binaryPath, binaryErr
}

func resolveGuardBinary(root string) (string, error) {
	files, err := guardSources(root)
	if err != nil {
		return "", err
	}
	var newest time.Time
	h := sha256.New()
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		if fi.ModTime().After(newest) {
			newest = fi.ModTime()
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		rel, _ := filepath.Rel(root, f)
		fmt.Fprintf(h, "%s %d\n", rel, len(data))
		h.Write(data)
	}
	made := filepath.Join(root, "bin", "headless-guard")
	if fi, err := os.Stat(made); err == nil && !fi.ModTime().Before(newest) {
		return made, nil
	}

	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	base := filepath.Join(cache, "headless-guard", "test-binaries")
	dir := filepath.Join(base, hex.EncodeToString(h.Sum(nil))[:16])
	bin := filepath.Join(dir, "headless-guard")
	if _, err := os.Stat(bin); err == nil {
		now := time.Now()
		_ = os.Chtimes(dir, now, now) // in use: spared by pruneBinaries
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// Built under a temporary name and renamed: another test process may
	// be building the same sources at the same time.
	tmp, err := os.CreateTemp(dir, ".build-")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	cmd := exec.Command("go", "build", "-o", tmp.Name(), "./cmd/headless-guard")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building headless-guard (bin/headless-guard is missing or older than the sources): %w\n%s", err, out.String())
	}
	if err := os.Rename(tmp.Name(), bin); err != nil {
		return "", err
	}
	pruneBinaries(base, dir)
	return bin, nil
}

// guardSources lists the files cmd/headless-guard is built from: the Go
// and embedded files of its packages in this module, go.mod and go.sum.
func guardSources(root string) ([]string, error) {
	cmd := exec.Command("go", "list", "-deps",
		"-f", `{{if and .Module .Module.Main}}{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{range .EmbedFiles}}{{$d}}/{{.}}{{"\n"}}{{end}}{{end}}`,
		"./cmd/headless-guard")
	cmd.Dir = root
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("listing the sources of ./cmd/headless-guard: %w\n%s", err, errOut.String())
	}
	files := []string{filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")}
	for line := range strings.Lines(out.String()) {
		if line = strings.TrimSpace(line); line != "" {
			files = append(files, line)
		}
	}
	return files, nil
}

// keepBinaries is how many builds of other source states pruneBinaries
// keeps: each is tens of megabytes, and editing makes a new one per run.
const keepBinaries = 3

// pruneBinaries removes all but the most recently used builds.
func pruneBinaries(base, keep string) {
	entries, _ := os.ReadDir(base)
	type build struct {
		path string
		used time.Time
	}
	var builds []build
	for _, e := range entries {
		p := filepath.Join(base, e.Name())
		if fi, err := e.Info(); err == nil && e.IsDir() && p != keep {
			builds = append(builds, build{p, fi.ModTime()})
		}
	}
	sort.Slice(builds, func(i, j int) bool { return builds[i].used.After(builds[j].used) })
	for i, b := range builds {
		if i >= keepBinaries {
			os.RemoveAll(b.path)
		}
	}
}
