package deploy

import (
	"bufio"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"debug/macho"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/headless-guard/headless-guard/test/framework"
)

// releaseVersion is the VERSION of the test's release: always the same,
// so that a warm build cache serves the four builds but their link.
const releaseVersion = "v0.0.0-releasetest"

// TestRelease checks what `make release` made: a static binary per
// platform, the checksums, the chart and the install manifests, each
// stamped with the version (TestImage checks the image and its SBOMs). make builds it before the tests run
// (release-test-dist: the host and one other platform, into
// HEADLESS_GUARD_RELEASE_DIST), so that no compile can reach go test's
// timeout; that `make release` builds every platform is checked on its
// plan (make -n).
func TestRelease(t *testing.T) {
	t.Parallel()
	dist := os.Getenv("HEADLESS_GUARD_RELEASE_DIST")
	if dist == "" {
		t.Skip("HEADLESS_GUARD_RELEASE_DIST is not set: `make unit` (and `make test`) build the release it checks")
	}
	root := framework.RepoRoot(t)

	all := []struct{ goos, goarch string }{{"linux", "amd64"}, {"linux", "arm64"}, {"darwin", "amd64"}, {"darwin", "arm64"}}
	t.Run("make release builds every platform", func(t *testing.T) {
		cmd := exec.Command("make", "--no-print-directory", "-n", "release", "VERSION="+releaseVersion, "DIST="+t.TempDir())
		cmd.Dir = root
		cmd.Env = withoutMakeFlags()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make -n release: %v\n%s", err, out)
		}
		// The recipe's loop over RELEASE_PLATFORMS, as make prints it.
		_, loop, ok := strings.Cut(string(out), "for p in ")
		loop, _, _ = strings.Cut(loop, ";")
		if !ok {
			t.Fatalf("make -n release prints no loop over the platforms:\n%s", out)
		}
		var want []string
		for _, p := range all {
			want = append(want, p.goos+"/"+p.goarch)
		}
		if got := strings.Fields(loop); !slices.Equal(got, want) {
			t.Errorf("make release builds %v, want %v", got, want)
		}
	})

	// The platforms built: the host's and at least one other.
	var platforms []struct{ goos, goarch string }
	for _, p := range all {
		if framework.FileExists(filepath.Join(dist, "headless-guard-"+p.goos+"-"+p.goarch)) {
			platforms = append(platforms, p)
		}
	}
	var cross bool
	for _, p := range platforms {
		cross = cross || p.goos != runtime.GOOS || p.goarch != runtime.GOARCH
	}
	if !cross || !framework.FileExists(filepath.Join(dist, "headless-guard-"+runtime.GOOS+"-"+runtime.GOARCH)) {
		t.Fatalf("%s must hold the host's binary and another platform's; it holds %v", dist, platforms)
	}
	for _, p := range platforms {
		name := "headless-guard-" + p.goos + "-" + p.goarch
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dist, name)
			info, err := buildinfo.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			settings := map[string]string{}
			for _, s := range info.Settings {
				settings[s.Key] = s.Value
			}
			if settings["GOOS"] != p.goos || settings["GOARCH"] != p.goarch || settings["CGO_ENABLED"] != "0" {
				t.Errorf("built for GOOS=%s GOARCH=%s CGO_ENABLED=%s", settings["GOOS"], settings["GOARCH"], settings["CGO_ENABLED"])
			}
			if got := executableArch(t, path, p.goos); got != p.goarch {
				t.Errorf("the executable's header says %s", got)
			}
			if p.goos == runtime.GOOS && p.goarch == runtime.GOARCH {
				out, err := exec.Command(path, "--version").CombinedOutput()
				if err != nil || !strings.Contains(string(out), releaseVersion) {
					t.Errorf("--version: %v %s; want %s", err, out, releaseVersion)
				}
			}
		})
	}

	t.Run("checksums", func(t *testing.T) {
		f, err := os.Open(filepath.Join(dist, "checksums.txt"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		listed := map[string]bool{}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sha256sum format: the hex digest, two spaces, the name.
			sum, name, ok := strings.Cut(sc.Text(), "  ")
			if !ok || len(sum) != 64 {
				t.Fatalf("not a sha256sum line: %q", sc.Text())
			}
			data, err := os.ReadFile(filepath.Join(dist, name))
			if err != nil {
				t.Fatal(err)
			}
			if got := sha256.Sum256(data); hex.EncodeToString(got[:]) != sum {
				t.Errorf("%s: checksum does not verify", name)
			}
			listed[name] = true
		}
		entries, err := os.ReadDir(dist)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range entries {
			if e.Name() != "checksums.txt" {
				names = append(names, e.Name())
				if !listed[e.Name()] {
					t.Errorf("%s has no checksum", e.Name())
				}
			}
		}
		want := []string{"headless-guard-0.0.0-releasetest.tgz", "headless-guard-cert-manager.yaml", "headless-guard-helm.yaml", "headless-guard-self-signed.yaml", "headless-guard-image.tar"}
		for _, p := range platforms {
			want = append(want, "headless-guard-"+p.goos+"-"+p.goarch)
			// The image's binaries have their SBOM beside them.
			if p.goos == "linux" {
				want = append(want, "headless-guard-"+p.goos+"-"+p.goarch+".spdx.json")
			}
		}
		slices.Sort(want)
		if !slices.Equal(names, want) {
			t.Errorf("dist holds %v, want %v", names, want)
		}
	})

	t.Run("chart", func(t *testing.T) {
		tgz := filepath.Join(dist, "headless-guard-0.0.0-releasetest.tgz")
		out := mustHelm(t, "", "lint", "--strict", tgz)
		if !strings.Contains(out, "0 chart(s) failed") {
			t.Errorf("helm lint: %s", out)
		}
		var meta struct{ Version, AppVersion string }
		if err := yaml.Unmarshal([]byte(mustHelm(t, "", "show", "chart", tgz)), &meta); err != nil {
			t.Fatal(err)
		}
		if meta.Version != "0.0.0-releasetest" || meta.AppVersion != releaseVersion {
			t.Errorf("packaged chart version %s, appVersion %s", meta.Version, meta.AppVersion)
		}
		// Its default image is the release's, the tag `make docker-build
		// VERSION=...` gives it.
		docs := parseDocs(t, mustHelm(t, "", "template", releaseName, tgz, "--namespace", framework.GuardNamespace))
		dep := decode[appsv1.Deployment](t, docs, "Deployment", "headless-guard")
		if img := dep.Spec.Template.Spec.Containers[0].Image; img != "ghcr.io/headless-guard/headless-guard:"+releaseVersion {
			t.Errorf("the packaged chart's image is %s", img)
		}
	})

	t.Run("manifests", func(t *testing.T) {
		for _, name := range []string{"headless-guard-self-signed.yaml", "headless-guard-cert-manager.yaml", "headless-guard-helm.yaml"} {
			docs := parseDocs(t, framework.ReadFile(t, filepath.Join(dist, name)))
			if len(docs) < 10 {
				t.Errorf("%s: %d objects", name, len(docs))
				continue
			}
			dep := decode[appsv1.Deployment](t, docs, "Deployment", "headless-guard")
			if img := dep.Spec.Template.Spec.Containers[0].Image; img != "ghcr.io/headless-guard/headless-guard:"+releaseVersion {
				t.Errorf("%s: image %s, want the release's tag", name, img)
			}
		}
	})
}

// executableArch is the GOARCH an ELF or Mach-O header names.
func executableArch(t *testing.T, path, goos string) string {
	t.Helper()
	switch goos {
	case "linux":
		f, err := elf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return map[elf.Machine]string{elf.EM_X86_64: "amd64", elf.EM_AARCH64: "arm64"}[f.Machine]
	case "darwin":
		f, err := macho.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		return map[macho.Cpu]string{macho.CpuAmd64: "amd64", macho.CpuArm64: "arm64"}[f.Cpu]
	}
	return ""
}

// withoutMakeFlags is the environment without the flags of a make that
// runs this test (`make unit`): its jobserver and command-line variables
// are not those of a make the test starts.
func withoutMakeFlags() []string {
	var env []string
	for _, e := range os.Environ() {
		if name, _, _ := strings.Cut(e, "="); name != "MAKEFLAGS" && name != "MFLAGS" && name != "MAKELEVEL" {
			env = append(env, e)
		}
	}
	return env
}
