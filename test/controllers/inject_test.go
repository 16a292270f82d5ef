package controllers

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/test/cluster"
	"github.com/headless-guard/headless-guard/test/framework"
)

// fixArgs are the guard flags of the fix tests: the defaults, so that
// namespace labels alone enable the fixes.
var fixArgs = []string{"--mode=enforce"}

func TestInjectionLifecycle(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, fixArgs...)
	ns := framework.Namespace(t, c, "inject", map[string]string{rules.InjectLabel: "true"})

	// Dry run: a warning and nothing created.
	out, stderr, err := framework.Kubectl(t, c, []byte(framework.StatefulSetYAML("web", "", "")), "apply", "--dry-run=server", "-n", ns, "-f", "-")
	if err != nil || !strings.Contains(stderr, "headless-guard would create headless Service "+ns+"/web for StatefulSet web (dry run: nothing created)") {
		t.Fatalf("dry run: %v\n%s%s", err, out, stderr)
	}
	if got := framework.MustKubectl(t, c, nil, "get", "services", "-n", ns, "-o", "name"); got != "" {
		t.Fatalf("dry run created %s", got)
	}

	// A StatefulSet alone gets its serviceName from the mutating webhook,
	// and its Service from the reconciler once the API server stored it.
	start := time.Now()
	out, stderr, err = framework.Kubectl(t, c, []byte(framework.StatefulSetYAML("web", "", "")), "apply", "-n", ns, "-f", "-")
	if err != nil || !strings.Contains(stderr, "headless-guard will create headless Service "+ns+"/web for StatefulSet web once it is stored") {
		t.Fatalf("apply: %v\n%s%s", err, out, stderr)
	}
	if name, _ := framework.GetJSONPath(t, c, "{.spec.serviceName}", "statefulset", "web", "-n", ns); name != "web" {
		t.Errorf("serviceName = %q, want web (set by the fix)", name)
	}
	uid, _ := framework.GetJSONPath(t, c, "{.metadata.uid}", "statefulset", "web", "-n", ns)
	var svc string
	framework.Eventually(t, 10*time.Second, "the injected Service", func() (bool, string) {
		svc, err = framework.GetJSONPath(t, c, "{.spec.clusterIP} {.spec.selector.app} {.spec.ports[0].name} {.metadata.labels.app\\.kubernetes\\.io/managed-by}", "service", "web", "-n", ns)
		return err == nil, fmt.Sprint(err)
	})
	t.Logf("the injected Service existed %v after the apply began", time.Since(start).Round(time.Millisecond))
	if svc != "None web web headless-guard" {
		t.Fatalf("injected Service: %q", svc)
	}
	// Owned from its creation, so that the garbage collector deletes it with
	// the StatefulSet (test/e2e shows that on a cluster that runs one).
	owner, _ := framework.GetJSONPath(t, c, "{.metadata.ownerReferences[*].kind}/{.metadata.ownerReferences[*].name}/{.metadata.ownerReferences[*].uid}/{.metadata.ownerReferences[*].controller}/{.metadata.ownerReferences[*].blockOwnerDeletion}", "service", "web", "-n", ns)
	if want := "StatefulSet/web/" + uid + "/true/true"; owner != want {
		t.Errorf("ownerReferences %q, want %q", owner, want)
	}
	// The Service is the user's to change, and the guard never deletes it,
	// not even once its StatefulSet is gone (this cluster runs no garbage
	// collector, so it stays).
	framework.MustKubectl(t, c, nil, "label", "service", "web", "-n", ns, "team=db")
	framework.MustKubectl(t, c, nil, "delete", "statefulset", "web", "-n", ns)
	time.Sleep(2 * time.Second)
	if got, _ := framework.GetJSONPath(t, c, "{.metadata.labels.team}", "service", "web", "-n", ns); got != "db" {
		t.Errorf("the orphaned injected Service was changed or deleted: label team=%q", got)
	}
}

// Nothing is created from an admission review: a StatefulSet that a later
// admission step rejects leaves no Service behind, not even for a moment.
func TestRejectedStatefulSetLeavesNothing(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, fixArgs...)
	framework.CheckRejectedLeavesNothing(t, c, framework.Namespace(t, c, "inject-rejected", map[string]string{rules.InjectLabel: "true"}))
}

// Seed 001 looks up nginx-0.nginx while its Service is nginx-headless: the
// StatefulSet it implies (nginx, serviceName nginx) is denied by default,
// with the way out in the message, and repaired where injection is on.
func TestSeed001(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, fixArgs...)
	seed, err := os.ReadFile("../../rules/testdata/seeds/seed-001-nginx-headless.yaml")
	if err != nil {
		t.Fatal(err)
	}
	implied := statefulSetImplied()
	ns := framework.Namespace(t, c, "seed-001", nil)
	framework.MustKubectl(t, c, seed, "apply", "-n", ns, "-f", "-")
	_, stderr, err := framework.Kubectl(t, c, []byte(implied), "apply", "-n", ns, "-f", "-")
	want := `The StatefulSet "nginx" is invalid: spec.serviceName: Not found: "nginx": must name an existing Service in namespace ` + "`" + ns + "`" + `: headless Service ` + "`nginx-headless`" + ` selects these pods; set ` + "`spec.serviceName: nginx-headless`" + ` (HG002 service-exists)`
	if err == nil || !strings.Contains(stderr, want) {
		t.Errorf("default: want the denial\n%s\ngot: %v\n%s", want, err, stderr)
	}

	ns = framework.Namespace(t, c, "seed-001-inject", map[string]string{rules.InjectLabel: "true"})
	framework.MustKubectl(t, c, seed, "apply", "-n", ns, "-f", "-")
	if _, stderr, err := framework.Kubectl(t, c, []byte(implied), "apply", "-n", ns, "-f", "-"); err != nil || !strings.Contains(stderr, "will create headless Service "+ns+"/nginx") {
		t.Fatalf("with injection: %v\n%s", err, stderr)
	}
	framework.Eventually(t, 10*time.Second, "the injected nginx Service", func() (bool, string) {
		ip, _ := framework.GetJSONPath(t, c, "{.spec.clusterIP}", "service", "nginx", "-n", ns)
		return ip == "None", ip
	})
}

func statefulSetImplied() string {
	return strings.Replace(framework.StatefulSetYAML("nginx", "nginx", ""), "      containers:\n      - name: nginx\n", "      containers:\n      - name: nginx\n", 1)
}

func TestFixLabelsAndPortNames(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, fixArgs...)
	ns := framework.Namespace(t, c, "fix-labels", map[string]string{rules.FixLabelsLabel: "true"})
	svc := strings.Replace(framework.ServiceYAML("db", ""), "    app: db\n", "    app: db\n    tier: backend\n", 1)
	svc = strings.Replace(svc, "  - name: web\n    port: 80\n", "  - port: 80\n", 1)
	framework.MustKubectl(t, c, []byte(svc), "apply", "-n", ns, "-f", "-")
	if name, _ := framework.GetJSONPath(t, c, "{.spec.ports[0].name}", "service", "db", "-n", ns); name != "tcp-80" {
		t.Errorf("unnamed port named %q, want tcp-80", name)
	}
	out, stderr, err := framework.Kubectl(t, c, []byte(framework.StatefulSetYAML("db", "db", "")), "apply", "-n", ns, "-f", "-")
	if err != nil || !strings.Contains(stderr, "headless-guard fixed HG004: add `tier=backend` to `spec.template.metadata.labels` (fix-labels)") {
		t.Fatalf("fix-labels: %v\n%s%s", err, out, stderr)
	}
	if tier, _ := framework.GetJSONPath(t, c, "{.spec.template.metadata.labels.tier}", "statefulset", "db", "-n", ns); tier != "backend" {
		t.Errorf("template label tier = %q", tier)
	}
}

func TestAuditEventsAndGauge(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, fixArgs...)
	ns := framework.Namespace(t, c, "audit", map[string]string{rules.ModeLabel: "warn"})
	if _, stderr, err := framework.Kubectl(t, c, []byte(framework.StatefulSetYAML("web", "web", "")), "apply", "-n", ns, "-f", "-"); err != nil {
		t.Fatalf("warn mode must admit: %v\n%s", err, stderr)
	}
	gauge := fmt.Sprintf(`headless_guard_audit_violations{namespace=%q,rule="HG002"} 1`, ns)
	framework.Eventually(t, 30*time.Second, "audit Event and gauge", func() (bool, string) {
		events := framework.MustKubectl(t, c, nil, "get", "events", "-n", ns, "--field-selector", "reason=HeadlessGuardViolation", "-o", "jsonpath={.items[*].message}")
		return strings.Contains(events, "HG002 service-exists: spec.serviceName: must name an existing Service") && strings.Contains(metrics(t, c), gauge), events
	})
	// Fixing it clears both.
	framework.MustKubectl(t, c, []byte(framework.ServiceYAML("web", "")), "apply", "-n", ns, "-f", "-")
	framework.Eventually(t, 30*time.Second, "audit cleared", func() (bool, string) {
		events := framework.MustKubectl(t, c, nil, "get", "events", "-n", ns, "--field-selector", "reason=HeadlessGuardViolation", "-o", "name")
		return events == "" && !strings.Contains(metrics(t, c), fmt.Sprintf(`namespace=%q`, ns)), events
	})
}

func metrics(t *testing.T, c *cluster.Cluster) string {
	resp, err := http.Get(c.Guard().MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// An object's label opts it out of injection; the reconciler reads it from
// its cache, where the transform must keep it.
func TestObjectLabelOptsOutOfInjection(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, fixArgs...)
	ns := framework.Namespace(t, c, "inject-opt-out", map[string]string{rules.InjectLabel: "true", rules.ModeLabel: "warn"})
	optOut := framework.StatefulSetYAML("mine", "mine", "  labels:\n    "+rules.InjectLabel+": \"false\"\n")
	var stderr string
	var err error
	created := framework.ServicesCreatedDuring(t, c, 3*time.Second, func() {
		_, stderr, err = framework.Kubectl(t, c, []byte(optOut), "apply", "-n", ns, "-f", "-")
	})
	if err != nil || !strings.Contains(stderr, "HG002") || strings.Contains(stderr, "will create") {
		t.Fatalf("opted out, in warn mode: want admitted with HG002's warning and no promise: %v\n%s", err, stderr)
	}
	if len(created) > 0 {
		t.Errorf("Services %v created for a StatefulSet that opted out", created)
	}
	// The control: the same without the label gets its Service.
	framework.MustKubectl(t, c, []byte(framework.StatefulSetYAML("theirs", "theirs", "")), "apply", "-n", ns, "-f", "-")
	framework.Eventually(t, 10*time.Second, "the injected Service of the StatefulSet that did not opt out", func() (bool, string) {
		ip, _ := framework.GetJSONPath(t, c, "{.spec.clusterIP}", "service", "theirs", "-n", ns)
		return ip == "None", ip
	})
}

// A Service deleted while its StatefulSet stays is created again: the
// reconciler's watch of Services (added before its cache started) queues
// the StatefulSets that name it. A StatefulSet whose namespace does not
// enable injection is not queued (its predicate), and gets none.
func TestDeletedServiceIsInjectedAgain(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, fixArgs...)
	ns := framework.Namespace(t, c, "inject-again", map[string]string{rules.InjectLabel: "true", rules.ModeLabel: "warn"})
	off := framework.Namespace(t, c, "inject-off", map[string]string{rules.ModeLabel: "warn"})
	framework.MustKubectl(t, c, []byte(framework.StatefulSetYAML("web", "web", "")), "apply", "-n", ns, "-f", "-")
	uidOf := func() string {
		uid, _ := framework.GetJSONPath(t, c, "{.metadata.uid}", "service", "web", "-n", ns)
		return uid
	}
	var first string
	framework.Eventually(t, 10*time.Second, "the injected Service", func() (bool, string) {
		first = uidOf()
		return first != "", first
	})
	framework.MustKubectl(t, c, nil, "delete", "service", "web", "-n", ns)
	framework.Eventually(t, 10*time.Second, "the Service injected again", func() (bool, string) {
		uid := uidOf()
		return uid != "" && uid != first, uid
	})
	created := framework.ServicesCreatedDuring(t, c, 3*time.Second, func() {
		framework.MustKubectl(t, c, []byte(framework.StatefulSetYAML("db", "db", "")), "apply", "-n", off, "-f", "-")
	})
	if len(created) > 0 {
		t.Errorf("Services %v created where injection is off", created)
	}
}
