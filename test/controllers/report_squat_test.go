package controllers

import (
	"strings"
	"testing"
	"time"

	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/test/cluster"
	"github.com/headless-guard/headless-guard/test/framework"
)

// TestReportSquatting: whoever may create Reports in a namespace can take
// the name of the guard's Report there first. The guard leaves that Report
// alone (it is not its own), and says so where people look: a Warning
// Event on that Report and headless_guard_audit_reports_taken, once, not
// an error line every few seconds forever; the other namespaces' Reports
// are written as before. The guard runs as the chart's ServiceAccount.
func TestReportSquatting(t *testing.T) {
	c := framework.OwnClusterWith(t, cluster.Options{})
	framework.MustKubectl(t, c, nil, "apply", "--server-side", "-f", framework.ReportCRD(t, c))
	framework.WaitEstablished(t, c, "crd/reports.openreports.io")
	docs := framework.Render(t, c, "self-signed")
	framework.MustKubectl(t, c, framework.Join(docs, func(d framework.ManifestDoc) bool { return !framework.IsWebhookConfiguration(d) }), "apply", "-f", "-")
	kubeconfig, _, _ := framework.SaKubeconfig(t, c, framework.GuardNamespace, "headless-guard")

	squatted := framework.Namespace(t, c, "squatted", map[string]string{rules.ModeLabel: "warn"})
	other := framework.Namespace(t, c, "other", map[string]string{rules.ModeLabel: "warn"})
	framework.MustKubectl(t, c, []byte(`apiVersion: openreports.io/v1alpha1
kind: Report
metadata:
  name: headless-guard
source: someone-else
`), "apply", "-n", squatted, "-f", "-")

	// The Reports are written once a finding has lasted the audit's grace period.
	g, err := c.StartGuard(t.Context(), framework.TestAuditGrace, "--kubeconfig", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.DumpLogs(t)
		}
	})
	clusterIP := strings.Replace(framework.ServiceYAML("web", ""), "  clusterIP: None\n", "", 1)
	for _, ns := range []string{squatted, other} {
		framework.MustKubectl(t, c, []byte(clusterIP+"---\n"+framework.StatefulSetYAML("web", "web", "")), "apply", "-n", ns, "-f", "-")
	}
	framework.Eventually(t, 30*time.Second, "the other namespace's Report with HG003", func() (bool, string) {
		out, _, _ := framework.Kubectl(t, c, nil, "get", "report", "headless-guard", "-n", other, "-o", "jsonpath={.results[*].policy}")
		return strings.Contains(out, "HG003"), out
	})
	framework.Eventually(t, 30*time.Second, "a Warning Event on the Report that took the name", func() (bool, string) {
		out := framework.MustKubectl(t, c, nil, "get", "events", "-n", squatted, "--field-selector", "reason=HeadlessGuardReportTaken,involvedObject.kind=Report", "-o", "jsonpath={.items[*].message}")
		return strings.Contains(out, "not its label"), out
	})
	framework.Eventually(t, 10*time.Second, "headless_guard_audit_reports_taken 1", func() (bool, string) {
		body := framework.MetricsText(t, g.MetricsURL())
		return strings.Contains(body, "headless_guard_audit_reports_taken 1"), framework.GrepLines(body, "reports_taken")
	})
	// Long enough for the old guard's retries every 5 seconds.
	time.Sleep(12 * time.Second)
	if src, _, _ := framework.Kubectl(t, c, nil, "get", "report", "headless-guard", "-n", squatted, "-o", "jsonpath={.source}"); src != "someone-else" {
		t.Errorf("the Report that took the name now has source %q: the guard must not touch it", src)
	}
	var said int
	for line := range strings.Lines(g.Logs()) {
		if strings.Contains(line, squatted) && strings.Contains(line, "Report") {
			said++
		}
	}
	t.Logf("the log mentions the taken Report %d times in 12+ seconds", said)
	if said > 1 {
		t.Errorf("the log mentions the taken Report %d times: want it said once\n%s", said, framework.GrepLines(g.Logs(), squatted))
	}
}
