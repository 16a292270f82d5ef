package controllers

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	reportsv1alpha1 "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"

	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/test/framework"
)

// TestAuditReports: the audit's findings as a Report per namespace, which
// `kubectl get reports` shows and which outlives the Events. Without the
// CRD the guard says so once and the audit carries on; once the CRD is
// installed the Report appears within seconds, and it goes once the
// finding is fixed.
func TestAuditReports(t *testing.T) {
	c := framework.OwnCluster(t)
	g, err := c.StartGuard(t.Context(), framework.TestAuditGrace)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.DumpLogs(t)
		}
	})
	// Strict: the ClusterIP governing Service is a denial there, and so a
	// failure in the Report, although warn mode admits it.
	strict := map[string]string{rules.ModeLabel: "warn", rules.PolicyLabel: string(rules.LevelStrict)}
	ns := framework.Namespace(t, c, "reports", strict)
	clusterIP := strings.Replace(framework.ServiceYAML("web", ""), "  clusterIP: None\n", "", 1)
	framework.MustKubectl(t, c, []byte(clusterIP+"---\n"+framework.StatefulSetYAML("web", "web", "")), "apply", "-n", ns, "-f", "-")
	framework.Eventually(t, 30*time.Second, "the audit's HG003 Event, without the Report CRD", func() (bool, string) {
		events := framework.MustKubectl(t, c, nil, "get", "events", "-n", ns, "--field-selector", "reason=HeadlessGuardViolation", "-o", "jsonpath={.items[*].message}")
		return strings.Contains(events, "HG003"), events
	})
	const missing = "the openreports.io Report CRD is not installed"
	framework.Eventually(t, 15*time.Second, "the guard saying the CRD is missing", func() (bool, string) {
		return strings.Contains(g.Logs(), missing), ""
	})

	framework.MustKubectl(t, c, nil, "apply", "--server-side", "-f", framework.ReportCRD(t, c))
	framework.WaitEstablished(t, c, "crd/reports.openreports.io")
	installed := time.Now()
	var report reportsv1alpha1.Report
	framework.Eventually(t, 40*time.Second, "a Report with the HG003 result", func() (bool, string) {
		out, stderr, err := framework.Kubectl(t, c, nil, "get", "reports", "-A", "-o", "json")
		if err != nil {
			return false, stderr
		}
		var list reportsv1alpha1.ReportList
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return false, err.Error()
		}
		for _, r := range list.Items {
			if r.Namespace == ns && r.Name == "headless-guard" {
				report = r
				for _, res := range r.Results {
					if res.Policy == "HG003" {
						return true, ""
					}
				}
			}
		}
		return false, out
	})
	t.Logf("Report with HG003 %v after the CRD was established", time.Since(installed).Round(100*time.Millisecond))
	if n := strings.Count(g.Logs(), missing); n != 1 {
		t.Errorf("the missing CRD was logged %d times, want once", n)
	}
	var hg003 *reportsv1alpha1.ReportResult
	for i := range report.Results {
		if report.Results[i].Policy == "HG003" {
			hg003 = &report.Results[i]
		}
	}
	switch {
	case report.Source != "headless-guard" || report.Labels["app.kubernetes.io/managed-by"] != "headless-guard":
		t.Errorf("Report source %q labels %v", report.Source, report.Labels)
	case hg003.Result != "fail" || hg003.Severity != "high" || hg003.Rule != "service-headless" || hg003.Source != "headless-guard":
		t.Errorf("HG003 result %+v: want fail, high, rule service-headless, source headless-guard", hg003)
	case len(hg003.Subjects) != 1 || hg003.Subjects[0].Kind != "StatefulSet" || hg003.Subjects[0].Name != "web" || hg003.Subjects[0].APIVersion != "apps/v1" || hg003.Subjects[0].UID == "":
		t.Errorf("HG003 resource %+v: want the StatefulSet web", hg003.Subjects)
	case !strings.Contains(hg003.Description, "clusterIP") || hg003.Properties["field"] != "spec.serviceName":
		t.Errorf("HG003 message %q, properties %v", hg003.Description, hg003.Properties)
	case report.Summary.Fail != countResults(report, "fail") || report.Summary.Warn != countResults(report, "warn"):
		t.Errorf("summary %+v does not count the results", report.Summary)
	}

	// Fixed: the Service made headless (clusterIP is immutable: re-created).
	framework.MustKubectl(t, c, nil, "delete", "service", "web", "-n", ns)
	framework.MustKubectl(t, c, []byte(framework.ServiceYAML("web", "")), "apply", "-n", ns, "-f", "-")
	framework.Eventually(t, 30*time.Second, "the Report gone once the namespace is clean", func() (bool, string) {
		out := framework.MustKubectl(t, c, nil, "get", "reports", "-n", ns, "-o", "name")
		return out == "", out
	})

	// With the CRD in place, a new finding is in its namespace's Report
	// within seconds of the apply.
	ns2 := framework.Namespace(t, c, "reports-live", strict)
	start := time.Now()
	framework.MustKubectl(t, c, []byte(clusterIP+"---\n"+framework.StatefulSetYAML("web", "web", "")), "apply", "-n", ns2, "-f", "-")
	framework.Eventually(t, 15*time.Second, "the HG003 result in a new namespace", func() (bool, string) {
		out, _, _ := framework.Kubectl(t, c, nil, "get", "report", "headless-guard", "-n", ns2, "-o", "jsonpath={.results[*].policy}")
		return strings.Contains(out, "HG003"), out
	})
	t.Logf("HG003 in the Report %v after the apply began", time.Since(start).Round(100*time.Millisecond))
}

func countResults(r reportsv1alpha1.Report, result string) int {
	n := 0
	for _, res := range r.Results {
		if string(res.Result) == result {
			n++
		}
	}
	return n
}
