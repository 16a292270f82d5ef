package manifest

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/headless-guard/headless-guard/internal/benchmanifests"
)

// BenchmarkParse measures the loader alone (split, parse, decode) over
// generated manifests already in memory, in files of 100 documents, by the
// fast path and by the slow path alone (sigs.k8s.io/yaml, and yaml.v3 for
// lines), and reports documents per second.
func BenchmarkParse(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		var sources []Source
		for f := 0; f*100 < n; f++ {
			var buf bytes.Buffer
			if err := benchmanifests.Write(&buf, 100, f*20); err != nil {
				b.Fatal(err)
			}
			sources = append(sources, Source{Path: fmt.Sprintf("app-%05d.yaml", f), Data: buf.Bytes()})
		}
		for _, path := range []string{"fast", "slow"} {
			b.Run(fmt.Sprintf("docs=%d/path=%s", n, path), func(b *testing.B) {
				fastParse = path == "fast"
				defer func() { fastParse = true }()
				b.ReportAllocs()
				for b.Loop() {
					set, err := Parse(sources, Options{Minimal: true})
					if err != nil {
						b.Fatal(err)
					}
					if d := set.Documents(); d != n {
						b.Fatalf("%d documents, want %d", d, n)
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "docs/s")
			})
		}
	}
}
