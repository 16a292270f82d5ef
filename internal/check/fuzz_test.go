package check

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/headless-guard/headless-guard/internal/manifest"
	"github.com/headless-guard/headless-guard/internal/report"
)

// FuzzCheck runs the whole offline check, the fixes and every output format
// over arbitrary manifests: no panic, and the fixed output always parses.
func FuzzCheck(f *testing.F) {
	seeds, _ := filepath.Glob("../../rules/testdata/*/*.yaml")
	for _, p := range seeds {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := manifest.Parse([]manifest.Source{{Path: "fuzz.yaml", Data: data}}, manifest.Options{KeepNodes: true})
		if err != nil {
			return
		}
		rep, err := evaluate(set, Options{})
		if err != nil {
			t.Fatal(err)
		}
		for _, format := range report.Formats {
			if err := report.Write(&bytes.Buffer{}, format, rep); err != nil {
				t.Fatalf("%s: %v", format, err)
			}
		}
		if _, err := fixSet(set, Options{}); err != nil {
			return
		}
		files, err := rendered(set)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := concat(&out, files); err != nil {
			t.Fatal(err)
		}
		if _, err := manifest.Parse([]manifest.Source{{Path: "fixed.yaml", Data: out.Bytes()}}, manifest.Options{}); err != nil {
			t.Fatalf("fixed output does not parse: %v\n--- input:\n%s\n--- output:\n%s", err, data, out.Bytes())
		}
	})
}
