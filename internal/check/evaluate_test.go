package check

import (
	"bytes"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/headless-guard/headless-guard/internal/benchmanifests"
	"github.com/headless-guard/headless-guard/internal/report"
)

// TestEvaluateParallelMatchesSequential evaluates a set large enough to be
// spread over workers, and on one core: the reports are the same.
func TestEvaluateParallelMatchesSequential(t *testing.T) {
	dir := t.TempDir()
	if err := benchmanifests.WriteDir(dir, 1000, 100); err != nil {
		t.Fatal(err)
	}
	paths, _ := filepath.Glob(filepath.Join(fixtureRoot, "*", "*.yaml"))
	if len(paths) < 20 {
		t.Fatalf("found %d fixtures", len(paths))
	}
	paths = append(paths, dir)
	run := func(procs int) string {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		res, err := Run(Options{Paths: paths, Scope: ScopeAll})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Report.Objects) < 4*evaluateChunk {
			t.Fatalf("only %d objects", len(res.Report.Objects))
		}
		var out bytes.Buffer
		if err := report.Write(&out, "json", res.Report); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	if parallel, sequential := run(4), run(1); parallel != sequential {
		t.Errorf("reports differ:\nparallel:\n%s\nsequential:\n%s", parallel, sequential)
	}
}
