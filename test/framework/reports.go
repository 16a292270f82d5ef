package framework

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/headless-guard/headless-guard/test/cluster"
)

// ReportCRD is the openreports.io Report CRD shipped in the module this
// repository requires.
func ReportCRD(t *testing.T, c *cluster.Cluster) string {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/openreports/reports-api")
	cmd.Dir = c.Root()
	dir, err := cmd.Output()
	if err != nil {
		t.Fatalf("locating the reports-api module: %v", err)
	}
	return filepath.Join(strings.TrimSpace(string(dir)), "config", "crd", "openreports.io_reports.yaml")
}
