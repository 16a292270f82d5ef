package deploy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/headless-guard/headless-guard/test/framework"
)

// ociDescriptor, ociIndex, ociManifest and ociConfig are the parts of the
// OCI image spec (github.com/opencontainers/image-spec) the test reads.
type ociDescriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
	Platform    *struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
	} `json:"platform"`
}

type ociIndex struct {
	Manifests []ociDescriptor `json:"manifests"`
}

type ociManifest struct {
	Config ociDescriptor   `json:"config"`
	Layers []ociDescriptor `json:"layers"`
}

type ociConfig struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Created      string `json:"created"`
	Config       struct {
		User       string
		Entrypoint []string
		Cmd        []string
		WorkingDir string
		Env        []string
		Labels     map[string]string
	} `json:"config"`
}

// ociLayout is an OCI image layout archive read into memory.
type ociLayout map[string][]byte

func readOCIArchive(t *testing.T, path string) ociLayout {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l := ociLayout{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return l
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if h.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			l[h.Name] = data
		}
	}
}

// blob is the blob d points at, checked against its digest and size.
func (l ociLayout) blob(t *testing.T, d ociDescriptor) []byte {
	t.Helper()
	data, ok := l["blobs/"+strings.Replace(d.Digest, ":", "/", 1)]
	if !ok {
		t.Fatalf("blob %s missing from the layout", d.Digest)
	}
	sum := sha256.Sum256(data)
	if "sha256:"+hex.EncodeToString(sum[:]) != d.Digest || int64(len(data)) != d.Size {
		t.Fatalf("blob %s: content does not match its descriptor", d.Digest)
	}
	return data
}

func (l ociLayout) decode(t *testing.T, d ociDescriptor, into any) {
	t.Helper()
	if err := json.Unmarshal(l.blob(t, d), into); err != nil {
		t.Fatalf("%s: %v", d.Digest, err)
	}
}

// imageIndex is the image index the layout's index.json tags, and its
// descriptor.
func (l ociLayout) imageIndex(t *testing.T) (ociDescriptor, ociIndex) {
	t.Helper()
	var top ociIndex
	if err := json.Unmarshal(l["index.json"], &top); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	if len(top.Manifests) != 1 || top.Manifests[0].MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Fatalf("index.json lists %+v, want one image index", top.Manifests)
	}
	var idx ociIndex
	l.decode(t, top.Manifests[0], &idx)
	return top.Manifests[0], idx
}

// layerFile is a file or directory of an image layer.
type layerFile struct {
	hdr  *tar.Header
	data []byte
}

// rootfs applies the image's layers in order (no whiteouts: the builder
// writes none) and returns the files by absolute path.
func (l ociLayout) rootfs(t *testing.T, m ociManifest) map[string]layerFile {
	t.Helper()
	files := map[string]layerFile{}
	for _, d := range m.Layers {
		if d.MediaType != "application/vnd.oci.image.layer.v1.tar+gzip" {
			t.Fatalf("layer %s: media type %s", d.Digest, d.MediaType)
		}
		zr, err := gzip.NewReader(bytes.NewReader(l.blob(t, d)))
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("layer %s: %v", d.Digest, err)
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[path.Clean("/"+h.Name)] = layerFile{h, data}
		}
	}
	return files
}

// dockerfileImage is what the Dockerfile's runtime stage says of the image:
// its LABELs, USER, WORKDIR, ENTRYPOINT, CMD, and where COPY puts the
// binary, with its ARGs substituted.
type dockerfileImage struct {
	user, workdir, binary string
	entrypoint, cmd       []string
	labels                map[string]string
}

func parseDockerfileImage(t *testing.T, root string, args map[string]string) dockerfileImage {
	t.Helper()
	stages := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	final := stages[len(stages)-1]
	expand := func(s string) string {
		return os.Expand(s, func(k string) string {
			if v, ok := args[k]; ok {
				return v
			}
			return final.args[k]
		})
	}
	img := dockerfileImage{labels: map[string]string{}}
	for _, step := range final.steps {
		instr, rest, _ := strings.Cut(step, " ")
		switch strings.ToUpper(instr) {
		case "USER":
			img.user = expand(rest)
		case "WORKDIR":
			img.workdir = expand(rest)
		case "ENTRYPOINT":
			img.entrypoint = jsonArray(t, step, rest)
		case "CMD":
			img.cmd = jsonArray(t, step, rest)
		case "COPY":
			f := strings.Fields(rest)
			if len(f) == 3 && f[0] == "--from=build" && strings.HasSuffix(f[1], "/headless-guard") {
				img.binary = f[2]
			}
		case "LABEL":
			for _, kv := range shellWords(t, rest) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("Dockerfile: LABEL %q is not key=value", kv)
				}
				img.labels[k] = expand(v)
			}
		}
	}
	return img
}

func jsonArray(t *testing.T, step, s string) []string {
	t.Helper()
	var a []string
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		t.Fatalf("Dockerfile: %s: not the exec (JSON) form: %v", step, err)
	}
	return a
}

// shellWords splits s at blanks outside double quotes, removing the quotes.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	quoted, inWord := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case (r == ' ' || r == '\t') && !quoted:
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("Dockerfile: unbalanced quotes in %q", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// TestImage checks the OCI image `make release` built without a Docker
// engine (hack/image) against the Dockerfile, the release's binaries and
// a second build: the same runtime configuration as the Dockerfile's
// image, the release's binary at the Dockerfile's path, nothing run as
// root, the same bytes when built twice, and an SBOM that lists the
// modules the binary links.
func TestImage(t *testing.T) {
	t.Parallel()
	dist := os.Getenv("HEADLESS_GUARD_RELEASE_DIST")
	if dist == "" {
		t.Skip("HEADLESS_GUARD_RELEASE_DIST is not set: `make unit` (and `make test`) build the image it checks")
	}
	root := framework.RepoRoot(t)
	archive := filepath.Join(dist, "headless-guard-image.tar")
	layout := readOCIArchive(t, archive)
	indexDesc, idx := layout.imageIndex(t)

	var top ociIndex
	if err := json.Unmarshal(layout["index.json"], &top); err != nil {
		t.Fatal(err)
	}
	if got := top.Manifests[0].Annotations["org.opencontainers.image.ref.name"]; got != releaseVersion {
		t.Errorf("the layout tags the image %q, want %q", got, releaseVersion)
	}

	t.Run("the same bytes when built twice", func(t *testing.T) {
		again := os.Getenv("HEADLESS_GUARD_IMAGE_AGAIN")
		if again == "" {
			t.Skip("HEADLESS_GUARD_IMAGE_AGAIN is not set: `make unit` builds the image a second time")
		}
		second := readOCIArchive(t, again)
		if d, _ := second.imageIndex(t); d.Digest != indexDesc.Digest {
			t.Errorf("built twice from the same binary: digests %s and %s", indexDesc.Digest, d.Digest)
		}
		a, b := framework.ReadFile(t, archive), framework.ReadFile(t, again)
		if a != b {
			var differ []string
			for _, name := range slices.Sorted(maps.Keys(layout)) {
				if !bytes.Equal(layout[name], second[name]) {
					differ = append(differ, name)
				}
			}
			t.Errorf("%s and %s differ (%d and %d bytes); entries that differ: %v", archive, again, len(a), len(b), differ)
		}
	})

	// COMMIT as the release stamped it into its binaries: "... (commit)".
	version, err := exec.Command(filepath.Join(dist, "headless-guard-"+runtime.GOOS+"-"+runtime.GOARCH), "--version").Output()
	if err != nil {
		t.Fatalf("the release's binary --version: %v", err)
	}
	_, commit, _ := strings.Cut(strings.TrimSpace(string(version)), " (")
	want := parseDockerfileImage(t, root, map[string]string{"VERSION": releaseVersion, "COMMIT": strings.TrimSuffix(commit, ")")})
	if want.binary == "" || want.user == "" || len(want.entrypoint) == 0 {
		t.Fatalf("the Dockerfile's runtime stage states no binary path, user or entrypoint: %+v", want)
	}

	// Every linux binary of the release is in the image, and nothing else.
	var linux []string
	for _, p := range []string{"amd64", "arm64"} {
		if framework.FileExists(filepath.Join(dist, "headless-guard-linux-"+p)) {
			linux = append(linux, p)
		}
	}
	var archs []string
	for _, d := range idx.Manifests {
		if d.Platform == nil || d.Platform.OS != "linux" {
			t.Fatalf("index entry %s: platform %+v, want linux", d.Digest, d.Platform)
		}
		archs = append(archs, d.Platform.Architecture)
	}
	slices.Sort(archs)
	if len(linux) == 0 || !slices.Equal(archs, linux) {
		t.Fatalf("the image index has %v, the release's linux binaries are %v", archs, linux)
	}

	for _, d := range idx.Manifests {
		arch := d.Platform.Architecture
		t.Run("linux-"+arch, func(t *testing.T) {
			var m ociManifest
			layout.decode(t, d, &m)
			var cfg ociConfig
			layout.decode(t, m.Config, &cfg)
			c := cfg.Config
			if cfg.OS != "linux" || cfg.Architecture != arch {
				t.Errorf("config for %s/%s, indexed as linux/%s", cfg.OS, cfg.Architecture, arch)
			}
			if c.User != want.user || c.WorkingDir != want.workdir || !slices.Equal(c.Entrypoint, want.entrypoint) || !slices.Equal(c.Cmd, want.cmd) {
				t.Errorf("image: user %q, workdir %q, entrypoint %q, cmd %q; the Dockerfile: user %q, workdir %q, entrypoint %q, cmd %q",
					c.User, c.WorkingDir, c.Entrypoint, c.Cmd, want.user, want.workdir, want.entrypoint, want.cmd)
			}
			if !maps.Equal(c.Labels, want.labels) {
				t.Errorf("image labels %v, the Dockerfile's %v", c.Labels, want.labels)
			}
			if c.Entrypoint[0] != want.binary {
				t.Errorf("the entrypoint %s is not where the Dockerfile copies the binary (%s)", c.Entrypoint[0], want.binary)
			}

			files := layout.rootfs(t, m)
			release := filepath.Join(dist, "headless-guard-linux-"+arch)
			bin, ok := files[want.binary]
			if !ok {
				t.Fatalf("no %s in the image", want.binary)
			}
			if !bytes.Equal(bin.data, []byte(framework.ReadFile(t, release))) {
				t.Errorf("%s in the image is not the release's %s", want.binary, release)
			}
			if bin.hdr.Mode&0o111 == 0 {
				t.Errorf("%s is not executable: mode %o", want.binary, bin.hdr.Mode)
			}

			// Nothing runs as root: a numeric non-root user (the kubelet
			// checks runAsNonRoot only on a numeric one) that the image
			// knows and the chart runs as, and no setuid or setgid file.
			uid, gid := checkNonRootUser(t, c.User, files)
			dep := decode[appsv1.Deployment](t, parseDocs(t, helmTemplate(t, framework.GuardNamespace, "default")), "Deployment", "headless-guard")
			if sc := dep.Spec.Template.Spec.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != int64(uid) || sc.RunAsGroup == nil || *sc.RunAsGroup != int64(gid) {
				t.Errorf("the chart's pod securityContext %+v does not run as the image's user %d:%d", sc, uid, gid)
			}
			for name, f := range files {
				if f.hdr.Mode&(04000|02000) != 0 {
					t.Errorf("%s is setuid or setgid (mode %o)", name, f.hdr.Mode)
				}
			}
			if home := files[c.WorkingDir]; home.hdr == nil || home.hdr.Typeflag != tar.TypeDir || home.hdr.Uid != uid {
				t.Errorf("the working directory %s is not a directory of user %d", c.WorkingDir, uid)
			}
			if tmp := files["/tmp"]; tmp.hdr == nil || tmp.hdr.Typeflag != tar.TypeDir || tmp.hdr.Mode&0o1777 != 0o1777 {
				t.Errorf("/tmp is not a world-writable sticky directory")
			}
			var caFile string
			for _, e := range c.Env {
				if v, ok := strings.CutPrefix(e, "SSL_CERT_FILE="); ok {
					caFile = v
				}
			}
			if ca, ok := files[caFile]; !ok || !x509.NewCertPool().AppendCertsFromPEM(ca.data) {
				t.Errorf("SSL_CERT_FILE=%q: no CA certificates there", caFile)
			}

			if arch == runtime.GOARCH && runtime.GOOS == "linux" && os.Getuid() == 0 {
				runInImage(t, files, c.WorkingDir, c.Env, uid, gid, append(c.Entrypoint, "--version")...)
			}

			checkSBOM(t, root, release, arch)
		})
	}
}

// checkNonRootUser checks that user is numeric UID:GID, not root, and in
// the image's /etc/passwd and /etc/group.
func checkNonRootUser(t *testing.T, user string, files map[string]layerFile) (int, int) {
	t.Helper()
	u, g, _ := strings.Cut(user, ":")
	uid, err1 := strconv.Atoi(u)
	gid, err2 := strconv.Atoi(g)
	if err1 != nil || err2 != nil || uid == 0 || gid == 0 {
		t.Fatalf("the image's user %q is not a numeric non-root UID:GID", user)
	}
	if !slices.ContainsFunc(strings.Split(string(files["/etc/passwd"].data), "\n"), func(l string) bool {
		f := strings.Split(l, ":")
		return len(f) == 7 && f[2] == u && f[3] == g
	}) {
		t.Errorf("/etc/passwd has no user %s with group %s:\n%s", u, g, files["/etc/passwd"].data)
	}
	if !slices.ContainsFunc(strings.Split(string(files["/etc/group"].data), "\n"), func(l string) bool {
		f := strings.Split(l, ":")
		return len(f) == 4 && f[2] == g
	}) {
		t.Errorf("/etc/group has no group %s", g)
	}
	return uid, gid
}

// runInImage writes the image's files into a directory and runs argv
// there as a container runtime would, as far as a test can without one:
// chrooted into them, as uid:gid, in dir, with the image's environment and
// nothing else. A binary that needed a file the image lacks (a shared
// library, a loader), or root, fails here.
func runInImage(t *testing.T, files map[string]layerFile, dir string, env []string, uid, gid int, argv ...string) {
	t.Helper()
	rootDir := t.TempDir()
	extractImage(t, files, rootDir)
	cmd := imageCommand(rootDir, dir, env, uid, gid, argv...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), releaseVersion) {
		t.Errorf("%s in the image as %d:%d: %v\n%s", strings.Join(argv, " "), uid, gid, err, out)
	}
}

// extractImage writes an image's files into rootDir with their modes and
// owners.
func extractImage(t *testing.T, files map[string]layerFile, rootDir string) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(files)) {
		f, p := files[name], filepath.Join(rootDir, name)
		var err error
		switch f.hdr.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			err = os.WriteFile(p, f.data, 0o600)
		default:
			t.Fatalf("%s: unexpected type %c", name, f.hdr.Typeflag)
		}
		if err == nil {
			err = os.Chmod(p, os.FileMode(f.hdr.Mode).Perm()|modeBits(f.hdr.Mode))
		}
		if err == nil {
			err = os.Lchown(p, f.hdr.Uid, f.hdr.Gid)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(rootDir, 0o755); err != nil {
		t.Fatal(err)
	}
}

// imageCommand runs argv chrooted into rootDir as uid:gid, in dir, with
// env and nothing else.
func imageCommand(rootDir, dir string, env []string, uid, gid int, argv ...string) *exec.Cmd {
	// Not exec.Command: it would look the path up on the host.
	return &exec.Cmd{Path: argv[0], Args: argv, Dir: dir, Env: env, SysProcAttr: &syscall.SysProcAttr{
		Chroot: rootDir, Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)},
	}}
}

// hostImage is the release image's files and configuration for this
// machine's architecture, when `make unit` built the release.
func hostImage(t *testing.T) (map[string]layerFile, ociConfig, bool) {
	t.Helper()
	dist := os.Getenv("HEADLESS_GUARD_RELEASE_DIST")
	if dist == "" || runtime.GOOS != "linux" {
		return nil, ociConfig{}, false
	}
	layout := readOCIArchive(t, filepath.Join(dist, "headless-guard-image.tar"))
	_, idx := layout.imageIndex(t)
	for _, d := range idx.Manifests {
		if d.Platform != nil && d.Platform.Architecture == runtime.GOARCH {
			var m ociManifest
			layout.decode(t, d, &m)
			var cfg ociConfig
			layout.decode(t, m.Config, &cfg)
			return layout.rootfs(t, m), cfg, true
		}
	}
	return nil, ociConfig{}, false
}

func modeBits(mode int64) os.FileMode {
	var m os.FileMode
	if mode&01000 != 0 {
		m |= os.ModeSticky
	}
	return m
}

// checkSBOM checks the SPDX SBOM beside a release binary: it describes
// that binary, and lists each module `go list` says it links, at the
// version the build selected.
func checkSBOM(t *testing.T, root, binary, arch string) {
	t.Helper()
	var doc struct {
		SPDXVersion string `json:"spdxVersion"`
		Packages    []struct {
			Name         string `json:"name"`
			SPDXID       string `json:"SPDXID"`
			VersionInfo  string `json:"versionInfo"`
			Checksums    []struct{ Algorithm, ChecksumValue string }
			ExternalRefs []struct{ ReferenceType, ReferenceLocator string }
		} `json:"packages"`
		Relationships []struct{ SPDXElementID, RelationshipType, RelatedSPDXElement string } `json:"relationships"`
	}
	if err := json.Unmarshal([]byte(framework.ReadFile(t, binary+".spdx.json")), &doc); err != nil {
		t.Fatalf("%s.spdx.json: %v", binary, err)
	}
	if doc.SPDXVersion != "SPDX-2.3" || len(doc.Packages) == 0 {
		t.Fatalf("%s.spdx.json: %s with %d packages", binary, doc.SPDXVersion, len(doc.Packages))
	}
	main := doc.Packages[0]
	sum := sha256.Sum256([]byte(framework.ReadFile(t, binary)))
	if main.Name != "github.com/headless-guard/headless-guard" || main.VersionInfo != releaseVersion ||
		len(main.Checksums) != 1 || main.Checksums[0].ChecksumValue != hex.EncodeToString(sum[:]) {
		t.Errorf("the SBOM's first package is %+v, want the release's binary", main)
	}
	listed := map[string]bool{}
	dependsOn := map[string]bool{}
	for _, r := range doc.Relationships {
		if r.SPDXElementID == main.SPDXID && r.RelationshipType == "DEPENDS_ON" {
			dependsOn[r.RelatedSPDXElement] = true
		}
	}
	for _, p := range doc.Packages[1:] {
		for _, r := range p.ExternalRefs {
			if r.ReferenceType == "purl" && r.ReferenceLocator == "pkg:golang/"+p.Name+"@"+p.VersionInfo && dependsOn[p.SPDXID] {
				listed[p.Name+"@"+p.VersionInfo] = true
			}
		}
	}
	// What the build links, from the module graph rather than from the
	// binary the SBOM was made from.
	cmd := exec.Command("go", "list", "-deps", "-f", `{{with .Module}}{{if not .Main}}{{with .Replace}}{{.Path}}@{{.Version}}{{else}}{{.Path}}@{{.Version}}{{end}}{{end}}{{end}}`, "./cmd/headless-guard")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "CGO_ENABLED=0")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var want []string
	for _, m := range strings.Fields(string(out)) {
		if !slices.Contains(want, m) {
			want = append(want, m)
		}
	}
	if len(want) < 20 {
		t.Fatalf("go list names %d modules: %s", len(want), out)
	}
	var missing []string
	for _, m := range want {
		if !listed[m] {
			missing = append(missing, m)
		}
	}
	if len(missing) > 0 {
		t.Errorf("the SBOM does not list %d of the %d modules the binary links: %v", len(missing), len(want), missing)
	}
	var extra []string
	for m := range listed {
		if !slices.Contains(want, m) && !strings.HasPrefix(m, "stdlib@") {
			extra = append(extra, m)
		}
	}
	if len(extra) > 0 {
		t.Errorf("the SBOM lists modules the binary does not link: %v", extra)
	}
}
