package manifest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	sigsyaml "sigs.k8s.io/yaml"
)

// The layout of a directory: which directories are a kustomization or a
// Helm chart, and so a unit (Source.Unit) that `check` reads as one
// apply, and which files in them are no whole manifest (kustomize patches,
// Helm templates, the kustomization and Chart.yaml themselves). The file
// names below are the only place that says what makes a unit; the skip
// reasons point at the command that builds what the unit applies.

// kustomizationFiles are the names kustomize reads a kustomization from,
// in the order it looks for them.
var kustomizationFiles = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// chartFile is the file that makes a directory a Helm chart.
const chartFile = "Chart.yaml"

// isUnitRoot reports whether dir is a unit: a kustomization or a Helm
// chart. Everything under it is checked together (its outermost unit is
// the Source.Unit of each file found under it).
func isUnitRoot(dir string) bool {
	for _, n := range append(kustomizationFiles[:len(kustomizationFiles):len(kustomizationFiles)], chartFile) {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return true
		}
	}
	return false
}

// isChart reports whether dir is a Helm chart.
func isChart(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, chartFile))
	return err == nil
}

// chartOfTemplate returns the chart directory when path is under the
// templates/ directory of a Helm chart, else "".
func chartOfTemplate(p string) string {
	dir := filepath.Dir(p)
	for {
		if filepath.Base(dir) == "templates" {
			if chart := filepath.Dir(dir); isChart(chart) {
				return chart
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir || dir == "." {
			return ""
		}
		dir = parent
	}
}

// isKustomization reports whether f is a kustomize file (a Kustomization
// or a Component of kustomize.config.k8s.io), which reads as an object.
func isKustomization(f *File) bool {
	if f.Path == StdinName {
		return false
	}
	n := 0
	for _, d := range f.Documents {
		for _, o := range d.Objects {
			if !strings.HasPrefix(o.Ref.APIVersion, "kustomize.config.k8s.io/") {
				return false
			}
			n++
		}
	}
	return n > 0
}

// The reasons a file of a unit is skipped: each says what to check instead.

// kustomizationSkip is why the kustomization file of dir is skipped.
func kustomizationSkip(dir string) string {
	return "a kustomization, not a manifest: " + checkBuilt(dir)
}

// skip says why path is skipped when a kustomization above it names it as
// a patch, or "".
func (k kustomizePatches) skip(path string) string {
	dir := k.of(path)
	if dir == "" {
		return ""
	}
	return fmt.Sprintf("a patch of the kustomization in %s, not a whole object: %s", dir, checkBuilt(dir))
}

// templateSkip says why path is skipped when it is a Go template of a Helm
// chart (a file with `{{` under the chart's templates/), or "".
func templateSkip(path string, data []byte) string {
	chart := chartOfTemplate(path)
	if chart == "" || !bytes.Contains(data, []byte("{{")) {
		return ""
	}
	return fmt.Sprintf("a Go template of the Helm chart in %s, not a manifest: check what it renders (`helm template RELEASE %s | headless-guard check -`)", chart, chart)
}

// checkBuilt points at what a kustomization builds.
func checkBuilt(dir string) string {
	return fmt.Sprintf("check what it builds (`kustomize build %s | headless-guard check -`)", dir)
}

// layoutSkip says why a file that holds no object is skipped when its name
// is a unit's own file (Chart.yaml, a kustomization, a chart's values), or
// "" when its name says nothing.
func layoutSkip(path string) string {
	name, dir := filepath.Base(path), filepath.Dir(path)
	lower := strings.ToLower(name)
	switch {
	case lower == strings.ToLower(chartFile) || lower == "chart.yml":
		return "a Helm chart's Chart.yaml, not a manifest"
	case isKustomizationName(name):
		return kustomizationSkip(dir)
	case strings.HasPrefix(lower, "values") && isChart(dir):
		return "a Helm chart's values, not a manifest (no `apiVersion` and `kind`)"
	}
	return ""
}

// isKustomizationName reports whether name is one of kustomizationFiles,
// in any case.
func isKustomizationName(name string) bool {
	for _, n := range kustomizationFiles {
		if strings.EqualFold(name, n) {
			return true
		}
	}
	return false
}

// kustomizePatches remembers, per directory, the patch files its
// kustomization names: a strategic-merge patch reads as an object, but
// only the fields it changes are there.
type kustomizePatches map[string]map[string]bool

// of returns the directory of the kustomization that names path as a
// patch, or "".
func (k kustomizePatches) of(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return ""
	}
	for dir := filepath.Dir(path); ; {
		named, ok := k[dir]
		if !ok {
			named = readPatches(dir)
			k[dir] = named
		}
		if named[abs] {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir || dir == "." {
			return ""
		}
		dir = parent
	}
}

// readPatches lists the absolute paths of the patch files the
// kustomization of dir names, if dir has one.
func readPatches(dir string) map[string]bool {
	var data []byte
	for _, n := range kustomizationFiles {
		if b, err := os.ReadFile(filepath.Join(dir, n)); err == nil {
			data = b
			break
		}
	}
	if data == nil {
		return nil
	}
	var k struct {
		PatchesStrategicMerge []string `json:"patchesStrategicMerge"`
		Patches               []struct {
			Path string `json:"path"`
		} `json:"patches"`
		PatchesJSON6902 []struct {
			Path string `json:"path"`
		} `json:"patchesJson6902"`
	}
	if sigsyaml.Unmarshal(data, &k) != nil {
		return nil
	}
	paths := k.PatchesStrategicMerge
	for _, p := range k.Patches {
		paths = append(paths, p.Path)
	}
	for _, p := range k.PatchesJSON6902 {
		paths = append(paths, p.Path)
	}
	out := map[string]bool{}
	for _, p := range paths {
		if p == "" || strings.Contains(p, "\n") {
			continue // an inline patch
		}
		if abs, err := filepath.Abs(filepath.Join(dir, p)); err == nil {
			out[abs] = true
		}
	}
	return out
}
