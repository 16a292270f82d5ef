package check

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/headless-guard/headless-guard/internal/benchmanifests"
	"github.com/headless-guard/headless-guard/rules"
)

// BenchmarkCheck measures a whole offline check (read, parse, index,
// evaluate) of generated manifest directories, and reports documents per
// second and the heap in use after the run.
func BenchmarkCheck(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("docs=%d", n), func(b *testing.B) {
			dir := b.TempDir()
			if err := benchmanifests.WriteDir(dir, n, 100); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			var docs int
			for i := 0; i < b.N; i++ {
				// Strict: every tenth StatefulSet's missing Service denies
				// (nothing uses its names, so the default policy warns).
				res, err := Run(Options{Paths: []string{dir}, Policy: rules.Policy{Level: rules.LevelStrict}})
				if err != nil {
					b.Fatal(err)
				}
				docs = res.Report.Documents
				if s := res.Report.Summarize(); s.Deny != n/50 {
					b.Fatalf("want %d denials, got %d", n/50, s.Deny)
				}
			}
			b.StopTimer()
			if docs != n {
				b.Fatalf("checked %d documents, want %d", docs, n)
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "docs/s")
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
		})
	}
}
