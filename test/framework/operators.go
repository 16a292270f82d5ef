package framework

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/headless-guard/headless-guard/test/cluster"
)

// OperatorGrace is the audit's grace period in the tests of operators'
// objects and of the public charts, which wait for its reports.
const OperatorGrace = 3 * time.Second

// OperatorArgs run the guard in the default policy with that grace period.
var OperatorArgs = []string{"--audit-grace-period=" + OperatorGrace.String()}

var crdsOnce sync.Map

// InstallCRDs installs the Database CRD and openreports.io's Report CRD
// in c, once.
func InstallCRDs(t *testing.T, c *cluster.Cluster) {
	t.Helper()
	if _, done := crdsOnce.Load(c); done {
		return
	}
	MustKubectl(t, c, []byte(cluster.DatabaseCRD), "apply", "-f", "-")
	MustKubectl(t, c, nil, "apply", "--server-side", "-f", ReportCRD(t, c))
	WaitEstablished(t, c, "crd/databases.ops.test.headless-guard.io", "crd/reports.openreports.io")
	crdsOnce.Store(c, true)
}

// ReportSubjects returns "Kind/name RULE" for each result of the guard's
// Report in ns, or "" when there is none.
func ReportSubjects(t *testing.T, c *cluster.Cluster, ns string) string {
	out, stderr, err := Kubectl(t, c, nil, "get", "reports.openreports.io", "headless-guard", "-n", ns, "-o",
		`jsonpath={range .results[*]}{.resources[0].kind}/{.resources[0].name} {.policy}{"\n"}{end}`)
	if err != nil {
		if strings.Contains(stderr, "NotFound") {
			return ""
		}
		t.Fatalf("kubectl get reports: %v\n%s", err, stderr)
	}
	return out
}
