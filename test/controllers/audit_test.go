package controllers

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/test/cluster"
	"github.com/headless-guard/headless-guard/test/framework"
)

// The audit goes object by object: these tests change the objects a
// finding depends on, not the object itself, and check that the finding
// follows. The namespaces are in warn mode, so that the webhooks admit what
// the audit must find.
//
// The events library folds Events about the same object version with the
// same reason and action into a series that keeps the first message; the
// audit's action is the rule ID, so each finding shows with its own
// message even when the object itself did not change.

// auditGauge returns the namespace's headless_guard_audit_violations
// samples without the metric name and namespace, e.g. `rule="HG002"} 1`.
func auditGauge(t *testing.T, c *cluster.Cluster, ns string) string {
	prefix := fmt.Sprintf(`headless_guard_audit_violations{namespace=%q,`, ns)
	var out []string
	for _, line := range strings.Split(metrics(t, c), "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			out = append(out, rest)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// auditEvents returns the messages of the audit's Events about one object.
func auditEvents(t *testing.T, c *cluster.Cluster, ns, kind, name string) string {
	return framework.MustKubectl(t, c, nil, "get", "events", "-n", ns, "--field-selector",
		"reason=HeadlessGuardViolation,involvedObject.kind="+kind+",involvedObject.name="+name,
		"-o", "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}")
}

// waitAudit waits until the namespace's gauge is want and the object's
// Events include each of events (none when events is empty).
func waitAudit(t *testing.T, c *cluster.Cluster, ns, kind, name, want string, events ...string) {
	t.Helper()
	framework.Eventually(t, 30*time.Second, fmt.Sprintf("gauge %q and Events %q", want, events), func() (bool, string) {
		gauge, got := auditGauge(t, c, ns), auditEvents(t, c, ns, kind, name)
		ok := gauge == want && (len(events) > 0 || got == "")
		for _, e := range events {
			ok = ok && strings.Contains(got, e)
		}
		return ok, fmt.Sprintf("gauge %q, events:\n%s", gauge, got)
	})
}

func TestAuditFollowsTheGoverningService(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, fixArgs...)
	ns := framework.Namespace(t, c, "audit-service", map[string]string{rules.ModeLabel: "warn"})
	framework.MustKubectl(t, c, []byte(framework.StatefulSetYAML("web", "web", "")), "apply", "-n", ns, "-f", "-")
	waitAudit(t, c, ns, "StatefulSet", "web", `rule="HG002"} 1`, "HG002 service-exists: spec.serviceName: must name an existing Service")

	// The Service appears, but its selector misses the pods: HG004 on the
	// StatefulSet, which did not change and which the Service does not select.
	svc := strings.Replace(framework.ServiceYAML("web", ""), "    app: web\n", "    app: web\n    tier: db\n", 1)
	framework.MustKubectl(t, c, []byte(svc), "apply", "-n", ns, "-f", "-")
	waitAudit(t, c, ns, "StatefulSet", "web", `rule="HG004"} 1`, "HG004 selector-matches-pods: ")
	// Fixed: cleared, Events too.
	framework.MustKubectl(t, c, nil, "patch", "service", "web", "-n", ns, "--type=merge", "-p", `{"spec":{"selector":{"tier":null}}}`)
	waitAudit(t, c, ns, "StatefulSet", "web", "")

	// No longer headless: HG003.
	framework.MustKubectl(t, c, nil, "patch", "service", "web", "-n", ns, "--type=merge", "-p",
		`{"spec":{"type":"ExternalName","externalName":"web.example.com","clusterIP":"","clusterIPs":null}}`)
	waitAudit(t, c, ns, "StatefulSet", "web", `rule="HG003"} 1`, "HG003 service-headless: ")

	// Deleted: HG002.
	framework.MustKubectl(t, c, nil, "delete", "service", "web", "-n", ns)
	waitGauge(t, c, ns, `rule="HG002"} 1`)
}

// waitGauge waits until the namespace's gauge is want.
func waitGauge(t *testing.T, c *cluster.Cluster, ns, want string) {
	t.Helper()
	framework.Eventually(t, 30*time.Second, fmt.Sprintf("gauge %q", want), func() (bool, string) {
		gauge := auditGauge(t, c, ns)
		return gauge == want, gauge
	})
}

// HG012 checks a pod template's subdomain against the Service of that name:
// it must exist, be headless and select the template's labels.
func TestAuditFollowsTheSubdomainService(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, fixArgs...)
	ns := framework.Namespace(t, c, "audit-subdomain", map[string]string{rules.ModeLabel: "warn"})
	deployment := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
spec:
  selector:
    matchLabels:
      app: api
  template:
    metadata:
      labels:
        app: api
    spec:
      subdomain: api-sub
      containers:
      - name: nginx
        image: nginx:alpine
        ports:
        - containerPort: 80
          name: web
`
	framework.MustKubectl(t, c, []byte(deployment), "apply", "-n", ns, "-f", "-")
	waitAudit(t, c, ns, "Deployment", "api", `rule="HG012"} 1`, "HG012 subdomain-service: spec.template.spec.subdomain: must name an existing headless Service")

	// The Service appears, but selects other pods and has an unnamed port.
	svc := strings.Replace(framework.ServiceYAML("api-sub", ""), "    app: api-sub\n", "    app: other\n", 1)
	svc = strings.Replace(svc, "  - name: web\n    port: 80\n", "  - port: 80\n", 1)
	framework.MustKubectl(t, c, []byte(svc), "apply", "-n", ns, "-f", "-")
	waitGauge(t, c, ns, `rule="HG012"} 2`)
	// It selects them: the port is left.
	framework.MustKubectl(t, c, nil, "patch", "service", "api-sub", "-n", ns, "--type=merge", "-p", `{"spec":{"selector":{"app":"api"}}}`)
	waitGauge(t, c, ns, `rule="HG012"} 1`)
	// The port named: the Deployment is clean, its Events deleted.
	framework.MustKubectl(t, c, nil, "patch", "service", "api-sub", "-n", ns, "--type=merge", "-p", `{"spec":{"ports":[{"name":"web","port":80}]}}`)
	waitAudit(t, c, ns, "Deployment", "api", "")
}

// HG008 lists the other workloads a StatefulSet's Service selects: a change
// to one of them changes the StatefulSet's findings.
func TestAuditFollowsTheWorkloadsItsServiceSelects(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, fixArgs...)
	ns := framework.Namespace(t, c, "audit-selects", map[string]string{rules.ModeLabel: "warn"})
	framework.MustKubectl(t, c, []byte(framework.ServiceYAML("db", "")+"---\n"+framework.StatefulSetYAML("db", "db", "")), "apply", "-n", ns, "-f", "-")
	// Selected by role, so that its template can drop app=db.
	deployment := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: other
spec:
  selector:
    matchLabels:
      role: other
  template:
    metadata:
      labels:
        app: db
        role: other
    spec:
      containers:
      - name: nginx
        image: nginx:alpine
`
	framework.MustKubectl(t, c, []byte(deployment), "apply", "-n", ns, "-f", "-")
	waitAudit(t, c, ns, "StatefulSet", "db", `rule="HG008"} 1`, "HG008 selects-only-this-set: spec.serviceName: must name a Service that selects only this StatefulSet's pods: Service `db` also selects the pods of Deployment "+ns+"/other")

	framework.MustKubectl(t, c, nil, "patch", "deployment", "other", "-n", ns, "--type=merge", "-p", `{"spec":{"template":{"metadata":{"labels":{"app":"other"}}}}}`)
	waitAudit(t, c, ns, "StatefulSet", "db", "")
}

func TestAuditForgetsDeletedStatefulSets(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, fixArgs...)
	ns := framework.Namespace(t, c, "audit-deleted", map[string]string{rules.ModeLabel: "warn"})
	framework.MustKubectl(t, c, []byte(framework.StatefulSetYAML("a", "missing", "")+"---\n"+framework.StatefulSetYAML("b", "missing", "")), "apply", "-n", ns, "-f", "-")
	waitAudit(t, c, ns, "StatefulSet", "a", `rule="HG002"} 2`, "HG002 service-exists")
	framework.MustKubectl(t, c, nil, "delete", "statefulset", "a", "-n", ns)
	waitGauge(t, c, ns, `rule="HG002"} 1`)
	framework.MustKubectl(t, c, nil, "delete", "statefulset", "b", "-n", ns)
	framework.Eventually(t, 30*time.Second, "the namespace's label sets removed", func() (bool, string) {
		m := metrics(t, c)
		return !strings.Contains(m, fmt.Sprintf("namespace=%q", ns)), auditGauge(t, c, ns)
	})
}

// An object fixed while the audit was not running (here: a guard started
// without it) has its Warning Events deleted once the audit runs again.
func TestAuditClearsEventsOfObjectsFixedWhileItWasDown(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, fixArgs...)
	ns := framework.Namespace(t, c, "audit-restart", map[string]string{rules.ModeLabel: "warn"})
	framework.MustKubectl(t, c, []byte(framework.StatefulSetYAML("web", "web", "")), "apply", "-n", ns, "-f", "-")
	waitAudit(t, c, ns, "StatefulSet", "web", `rule="HG002"} 1`, "HG002 service-exists: spec.serviceName: must name an existing Service")

	guard(t, append(fixArgs, "--audit=false")...)
	framework.MustKubectl(t, c, []byte(framework.ServiceYAML("web", "")), "apply", "-n", ns, "-f", "-")
	if auditEvents(t, c, ns, "StatefulSet", "web") == "" {
		t.Fatal("the Event is gone without the audit: the check below would prove nothing")
	}
	guard(t, fixArgs...)
	waitAudit(t, c, ns, "StatefulSet", "web", "")
}

// A guard restarted after it reported a finding still wrong counts it
// again at once, from its Events, and records no second Event; what the
// restart's grace period would otherwise delay is only what it had not
// reported.
func TestAuditDoesNotReportTwiceAfterARestart(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, framework.OperatorArgs...)
	ns := framework.Namespace(t, c, "audit-twice", nil)
	framework.MustKubectl(t, c, []byte(unusedNamesStatefulSetYAML("web", "web")), "apply", "-n", ns, "-f", "-")
	waitAudit(t, c, ns, "StatefulSet", "web", `rule="HG002"} 1`, "HG002 service-exists")
	events := func() string {
		return framework.MustKubectl(t, c, nil, "get", "events", "-n", ns, "--field-selector", "reason=HeadlessGuardViolation",
			"-o", `jsonpath={range .items[*]}{.metadata.name} {.count} {.series.count}{"\n"}{end}`)
	}
	before := events()
	if err := c.Guard().Restart(); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	waitGauge(t, c, ns, `rule="HG002"} 1`)
	if took := time.Since(restarted); took >= framework.OperatorGrace {
		t.Errorf("the gauge came back %v after the restart, not before the grace period of %v", took, framework.OperatorGrace)
	}
	time.Sleep(time.Until(restarted.Add(framework.OperatorGrace + 2*time.Second)))
	if after := events(); after != before {
		t.Errorf("Events after the restart:\n%s\nbefore:\n%s", after, before)
	}
}
