package test

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
)

// fixArgs are the guard flags of the fix tests: a short grace period for
// injected Services whose StatefulSet never appears.
var fixArgs = []string{"--injected-service-grace-period=3s"}

// eventually polls cond every 200ms for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s did not happen within %v; last state: %s", what, d, last)
}

func getJSONPath(t *testing.T, c *cluster.Cluster, path string, args ...string) (string, error) {
	out, errOut, err := kubectl(t, c, nil, append(append([]string{"get"}, args...), "-o", "jsonpath="+path)...)
	if err != nil {
		return "", fmt.Errorf("%v: %s", err, errOut)
	}
	return out, nil
}

func TestInjectionLifecycle(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, fixArgs...)
	ns := namespace(t, c, "inject", map[string]string{rules.InjectLabel: "true"})

	// Dry run: a warning and nothing created.
	out, stderr, err := kubectl(t, c, []byte(statefulSetYAML("web", "", "")), "apply", "--dry-run=server", "-n", ns, "-f", "-")
	if err != nil || !strings.Contains(stderr, "headless-guard would create headless Service "+ns+"/web for StatefulSet web (dry run: nothing created)") {
		t.Fatalf("dry run: %v\n%s%s", err, out, stderr)
	}
	if got := mustKubectl(t, c, nil, "get", "services", "-n", ns, "-o", "name"); got != "" {
		t.Fatalf("dry run created %s", got)
	}

	// A StatefulSet alone gets its Service, and its serviceName.
	out, stderr, err = kubectl(t, c, []byte(statefulSetYAML("web", "", "")), "apply", "-n", ns, "-f", "-")
	if err != nil || !strings.Contains(stderr, "Warning: headless-guard created headless Service "+ns+"/web for StatefulSet web") {
		t.Fatalf("apply: %v\n%s%s", err, out, stderr)
	}
	if name, _ := getJSONPath(t, c, "{.spec.serviceName}", "statefulset", "web", "-n", ns); name != "web" {
		t.Errorf("serviceName = %q, want web (set by the fix)", name)
	}
	svc, err := getJSONPath(t, c, "{.spec.clusterIP} {.spec.selector.app} {.spec.ports[0].name} {.metadata.labels.app\\.kubernetes\\.io/managed-by}", "service", "web", "-n", ns)
	if err != nil || svc != "None web web headless-guard" {
		t.Fatalf("injected Service: %q %v", svc, err)
	}
	// The reconciler adopts it, so that it goes with the StatefulSet.
	eventually(t, 30*time.Second, "ownerReference on the injected Service", func() (bool, string) {
		owner, _ := getJSONPath(t, c, "{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}", "service", "web", "-n", ns)
		return owner == "StatefulSet/web", owner
	})
	mustKubectl(t, c, nil, "delete", "statefulset", "web", "-n", ns)
	eventually(t, 30*time.Second, "the injected Service deleted with its StatefulSet", func() (bool, string) {
		got := mustKubectl(t, c, nil, "get", "services", "-n", ns, "-o", "name")
		return got == "", got
	})
}

func TestInjectedServiceOfARejectedStatefulSetIsRemoved(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, fixArgs...)
	ns := namespace(t, c, "inject-rejected", map[string]string{rules.InjectLabel: "true"})
	// A later admission step: a ValidatingAdmissionPolicy refusing
	// StatefulSets labelled reject=yes, evaluated after mutating webhooks.
	policy := fmt.Sprintf(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: reject-%[1]s
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: ["apps"]
      apiVersions: ["v1"]
      operations: ["CREATE"]
      resources: ["statefulsets"]
  validations:
  - expression: "!has(object.metadata.labels) || !('reject' in object.metadata.labels)"
    message: rejected by a later admission step
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: reject-%[1]s
spec:
  policyName: reject-%[1]s
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: %[1]s
`, ns)
	mustKubectl(t, c, []byte(policy), "apply", "-f", "-")
	rejected := strings.Replace(statefulSetYAML("db", "", ""), "metadata:\n  name: db\n", "metadata:\n  name: db\n  labels:\n    reject: \"yes\"\n", 1)
	// Policies take effect a moment after they are created: probe with dry
	// runs (which create nothing), then create for real once.
	eventually(t, 30*time.Second, "the policy in effect", func() (bool, string) {
		_, stderr, err := kubectl(t, c, []byte(rejected), "apply", "--dry-run=server", "-n", ns, "-f", "-")
		return err != nil && strings.Contains(stderr, "rejected by a later admission step"), stderr
	})
	if got := mustKubectl(t, c, nil, "get", "services", "-n", ns, "-o", "name"); got != "" {
		t.Fatalf("dry runs created %s", got)
	}
	_, stderr, err := kubectl(t, c, []byte(rejected), "apply", "-n", ns, "-f", "-")
	if err == nil || !strings.Contains(stderr, "rejected by a later admission step") {
		t.Fatalf("the StatefulSet must be rejected by the policy: %v\n%s", err, stderr)
	}
	if got := mustKubectl(t, c, nil, "get", "services", "-n", ns, "-o", "name"); got != "service/db\n" {
		t.Fatalf("the mutating webhook must have created the Service before the rejection, got %q", got)
	}
	// The mutating webhook created the Service before the policy said no;
	// the reconciler removes it after the grace period.
	eventually(t, 30*time.Second, "the orphaned injected Service removed", func() (bool, string) {
		got := mustKubectl(t, c, nil, "get", "services", "-n", ns, "-o", "name")
		return got == "", got
	})
	// It never touches a Service it did not create.
	mustKubectl(t, c, []byte(serviceYAML("mine", "")), "apply", "-n", ns, "-f", "-")
	time.Sleep(4 * time.Second)
	mustKubectl(t, c, nil, "get", "service", "mine", "-n", ns)
}

// Seed 001 looks up nginx-0.nginx while its Service is nginx-headless: the
// StatefulSet it implies (nginx, serviceName nginx) is denied by default,
// with the way out in the message, and repaired where injection is on.
func TestSeed001(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, fixArgs...)
	seed, err := os.ReadFile("../rules/testdata/seeds/seed-001-nginx-headless.yaml")
	if err != nil {
		t.Fatal(err)
	}
	implied := statefulSetImplied()
	ns := namespace(t, c, "seed-001", nil)
	mustKubectl(t, c, seed, "apply", "-n", ns, "-f", "-")
	_, stderr, err := kubectl(t, c, []byte(implied), "apply", "-n", ns, "-f", "-")
	want := `The StatefulSet "nginx" is invalid: spec.serviceName: Not found: "nginx": must name an existing Service in namespace ` + "`" + ns + "`" + `: headless Service ` + "`nginx-headless`" + ` selects these pods; set ` + "`spec.serviceName: nginx-headless`" + ` (HG002 service-exists)`
	if err == nil || !strings.Contains(stderr, want) {
		t.Errorf("default: want the denial\n%s\ngot: %v\n%s", want, err, stderr)
	}

	ns = namespace(t, c, "seed-001-inject", map[string]string{rules.InjectLabel: "true"})
	mustKubectl(t, c, seed, "apply", "-n", ns, "-f", "-")
	if _, stderr, err := kubectl(t, c, []byte(implied), "apply", "-n", ns, "-f", "-"); err != nil || !strings.Contains(stderr, "created headless Service "+ns+"/nginx") {
		t.Fatalf("with injection: %v\n%s", err, stderr)
	}
	if ip, _ := getJSONPath(t, c, "{.spec.clusterIP}", "service", "nginx", "-n", ns); ip != "None" {
		t.Errorf("injected nginx Service clusterIP %q", ip)
	}
}

func statefulSetImplied() string {
	return strings.Replace(statefulSetYAML("nginx", "nginx", ""), "      containers:\n      - name: nginx\n", "      containers:\n      - name: nginx\n", 1)
}

func TestFixLabelsAndPortNames(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, fixArgs...)
	ns := namespace(t, c, "fix-labels", map[string]string{rules.FixLabelsLabel: "true"})
	svc := strings.Replace(serviceYAML("db", ""), "    app: db\n", "    app: db\n    tier: backend\n", 1)
	svc = strings.Replace(svc, "  - name: web\n    port: 80\n", "  - port: 80\n", 1)
	mustKubectl(t, c, []byte(svc), "apply", "-n", ns, "-f", "-")
	if name, _ := getJSONPath(t, c, "{.spec.ports[0].name}", "service", "db", "-n", ns); name != "tcp-80" {
		t.Errorf("unnamed port named %q, want tcp-80", name)
	}
	out, stderr, err := kubectl(t, c, []byte(statefulSetYAML("db", "db", "")), "apply", "-n", ns, "-f", "-")
	if err != nil || !strings.Contains(stderr, "headless-guard fixed HG004: add `tier=backend` to `spec.template.metadata.labels` (fix-labels)") {
		t.Fatalf("fix-labels: %v\n%s%s", err, out, stderr)
	}
	if tier, _ := getJSONPath(t, c, "{.spec.template.metadata.labels.tier}", "statefulset", "db", "-n", ns); tier != "backend" {
		t.Errorf("template label tier = %q", tier)
	}
}

func TestAuditEventsAndGauge(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, fixArgs...)
	ns := namespace(t, c, "audit", map[string]string{rules.ModeLabel: "warn"})
	if _, stderr, err := kubectl(t, c, []byte(statefulSetYAML("web", "web", "")), "apply", "-n", ns, "-f", "-"); err != nil {
		t.Fatalf("warn mode must admit: %v\n%s", err, stderr)
	}
	gauge := fmt.Sprintf(`headless_guard_audit_violations{namespace=%q,rule="HG002"} 1`, ns)
	eventually(t, 30*time.Second, "audit Event and gauge", func() (bool, string) {
		events := mustKubectl(t, c, nil, "get", "events", "-n", ns, "--field-selector", "reason=HeadlessGuardViolation", "-o", "jsonpath={.items[*].message}")
		return strings.Contains(events, "HG002 service-exists: spec.serviceName: must name an existing Service") && strings.Contains(metrics(t, c), gauge), events
	})
	// Fixing it clears both.
	mustKubectl(t, c, []byte(serviceYAML("web", "")), "apply", "-n", ns, "-f", "-")
	eventually(t, 30*time.Second, "audit cleared", func() (bool, string) {
		events := mustKubectl(t, c, nil, "get", "events", "-n", ns, "--field-selector", "reason=HeadlessGuardViolation", "-o", "name")
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
