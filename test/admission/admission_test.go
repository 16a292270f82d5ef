package admission

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/test/framework"
)

// TestExactMessages pins what a user reads when kubectl is denied.
func TestExactMessages(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t)
	ns := framework.Namespace(t, c, "messages", nil)
	data, _ := os.ReadFile("../binary/testdata/cli/web.yaml")
	out, stderr, err := framework.Kubectl(t, c, data, "apply", "-n", ns, "-f", "-")
	if err == nil {
		t.Fatal("the StatefulSet pointing at a missing Service must be denied")
	}
	if out != "service/nginx-headless created\n" {
		t.Errorf("stdout %q: the Service must be created", out)
	}
	want := "Warning: HG002: Create a headless Service (`clusterIP: None`) with that name that selects the pod template labels before the StatefulSet (with `kubectl apply -f`, put the Service first in the file, or use `--inject`), or point `spec.serviceName` at the existing one. See https://github.com/headless-guard/headless-guard/blob/main/docs/rules.md#hg002\n" +
		"Warning: to admit it without fixing it: annotate the object `headless-guard.io/skip: \"HG002\"` to skip these rules for it, or `kubectl label namespace " + ns + " headless-guard.io/mode=warn` to only warn in this namespace\n" +
		"The StatefulSet \"web\" is invalid: spec.serviceName: Not found: \"nginx\": must name an existing Service in namespace `" + ns + "`: headless Service `nginx-headless` selects these pods; set `spec.serviceName: nginx-headless` (HG002 service-exists)\n"
	// kubectl prints the causes and the warnings; a controller's client
	// (client-go's StatusError) logs the status message, which carries the
	// remedies too (webhook's TestDenialCarriesFieldCausesAndRemediation).
	if stderr != want {
		t.Errorf("kubectl stderr:\n%s\nwant:\n%s", stderr, want)
	}
}

// A Service and its StatefulSet in one kubectl apply: the StatefulSet is
// checked a few milliseconds after the Service is created, before the
// informer has seen it; the live read on a cache miss must prevent a false
// denial, every time.
func TestServiceAndStatefulSetBackToBack(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t)
	ns := framework.Namespace(t, c, "back-to-back", nil)
	for i := 0; i < 20; i++ {
		name := fmt.Sprintf("db%d", i)
		doc := framework.ServiceYAML(name, "") + "---\n" + framework.StatefulSetYAML(name, name, "")
		if _, stderr, err := framework.Kubectl(t, c, []byte(doc), "apply", "-n", ns, "-f", "-"); err != nil || stderr != "" {
			t.Fatalf("round %d: %v\n%s", i, err, stderr)
		}
	}
}

func TestServerSideDryRun(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t)
	ns := framework.Namespace(t, c, "dry-run", nil)
	// Dry-run does not persist the Service, so the StatefulSet after it sees
	// none (kubernetes #83562): HG002 must warn, not deny.
	doc := framework.ServiceYAML("web", "") + "---\n" + framework.StatefulSetYAML("web", "web", "")
	out, stderr, err := framework.Kubectl(t, c, []byte(doc), "apply", "--dry-run=server", "-n", ns, "-f", "-")
	if err != nil || !strings.Contains(out, "statefulset.apps/web created (server dry run)") {
		t.Fatalf("dry run must pass: %v\n%s%s", err, out, stderr)
	}
	if !regexp.MustCompile(`(?m)^Warning: HG002 spec.serviceName: must name an existing Service`).MatchString(stderr) {
		t.Errorf("dry run must warn about the missing Service:\n%s", stderr)
	}
	if got := framework.MustKubectl(t, c, nil, "get", "statefulsets,services", "-n", ns, "-o", "name"); got != "" {
		t.Errorf("dry run left objects behind: %s", got)
	}
	// Every other rule is evaluated as for a real request.
	// The Service exists for real, but selects a label the pods lack.
	mismatched := strings.Replace(framework.ServiceYAML("web", ""), "    app: web\n", "    app: web\n    tier: db\n", 1)
	if _, stderr, err := framework.Kubectl(t, c, []byte(mismatched), "apply", "-n", ns, "-f", "-"); err != nil {
		t.Fatal(stderr)
	}
	if _, stderr, err = framework.Kubectl(t, c, []byte(framework.StatefulSetYAML("web", "web", "")), "apply", "--dry-run=server", "-n", ns, "-f", "-"); err == nil || !strings.Contains(stderr, "(HG004 selector-matches-pods)") {
		t.Errorf("a dry run with a selector mismatch must be denied like a real request: %v\n%s", err, stderr)
	}
}

func TestDryRunMissingServiceDeny(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t, "--dry-run-missing-service=deny")
	ns := framework.Namespace(t, c, "dry-run-deny", nil)
	_, stderr, err := framework.Kubectl(t, c, []byte(framework.StatefulSetYAML("web", "web", "")), "apply", "--dry-run=server", "-n", ns, "-f", "-")
	if err == nil || !strings.Contains(stderr, "(HG002 service-exists)") {
		t.Errorf("with --dry-run-missing-service=deny the dry run must be denied: %v\n%s", err, stderr)
	}
}

func TestDeleteReferencedService(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t)
	ns := framework.Namespace(t, c, "delete", nil)
	framework.MustKubectl(t, c, []byte(framework.ServiceYAML("web", "")+"---\n"+framework.StatefulSetYAML("web", "web", "")), "apply", "-n", ns, "-f", "-")
	out, stderr, err := framework.Kubectl(t, c, nil, "delete", "service", "web", "-n", ns)
	if err != nil || !strings.Contains(out, `service "web" deleted`) {
		t.Fatalf("delete must go through (HG010 warns by default): %v\n%s", err, stderr)
	}
	// The names it removes: the 3 replicas' per-pod names under the Service.
	if !strings.Contains(stderr, "Warning: HG010 metadata.name: must not be deleted while StatefulSet `web` names it in `spec.serviceName`: its pods lose their DNS names; removes 3 names: web-0.web."+ns+".svc.cluster.local, web-1.web."+ns+".svc.cluster.local, web-2.web."+ns+".svc.cluster.local") {
		t.Errorf("stderr:\n%s", stderr)
	}
	// Existing objects stay updatable: a label change and a scale of the
	// StatefulSet whose Service is now gone restate HG002, so they warn.
	out, stderr, err = framework.Kubectl(t, c, nil, "label", "statefulset", "web", "-n", ns, "team=db")
	if err != nil || !strings.Contains(stderr, "Warning: HG002 spec.serviceName") {
		t.Errorf("an unrelated update must be admitted with a warning: %v\n%s%s", err, out, stderr)
	}
	if _, stderr, err := framework.Kubectl(t, c, nil, "scale", "statefulset", "web", "-n", ns, "--replicas=5"); err != nil {
		t.Errorf("scale must never be blocked: %v\n%s", err, stderr)
	}
	// And HG010 can be made a denial.
	guard(t, "--rule", "HG010=deny")
	framework.MustKubectl(t, c, []byte(framework.ServiceYAML("web", "")), "apply", "-n", ns, "-f", "-")
	if _, stderr, err := framework.Kubectl(t, c, nil, "delete", "service", "web", "-n", ns); err == nil || !strings.Contains(stderr, "(HG010 referenced-service-delete)") {
		t.Errorf("with HG010=deny the delete must be denied: %v\n%s", err, stderr)
	}
}

func TestOptOutAnnotation(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t)
	ns := framework.Namespace(t, c, "opt-out", nil)
	for _, skip := range []string{"HG002", "hg002,HG004", "all"} {
		name := "web-" + framework.DNSName(skip)
		annotations := fmt.Sprintf("  annotations:\n    %s: %q\n", rules.SkipAnnotation, skip)
		if _, stderr, err := framework.Kubectl(t, c, []byte(framework.StatefulSetYAML(name, "missing", annotations)), "apply", "-n", ns, "-f", "-"); err != nil {
			t.Errorf("skip %q: %v\n%s", skip, err, stderr)
		}
	}
	// Skipping another rule does not skip HG002.
	annotations := fmt.Sprintf("  annotations:\n    %s: HG004\n", rules.SkipAnnotation)
	if _, stderr, err := framework.Kubectl(t, c, []byte(framework.StatefulSetYAML("web-other", "missing", annotations)), "apply", "-n", ns, "-f", "-"); err == nil || !strings.Contains(stderr, "(HG002 service-exists)") {
		t.Errorf("skip HG004 must not skip HG002: %v\n%s", err, stderr)
	}
}

func TestNamespaceModeLabel(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t)
	ns := framework.Namespace(t, c, "mode-warn", map[string]string{rules.ModeLabel: "warn"})
	out, stderr, err := framework.Kubectl(t, c, []byte(framework.StatefulSetYAML("web", "missing", "")), "apply", "-n", ns, "-f", "-")
	if err != nil || !strings.Contains(out, "statefulset.apps/web created") || !strings.Contains(stderr, "Warning: HG002 spec.serviceName") {
		t.Errorf("in a mode=warn namespace the denial must become a warning: %v\n%s%s", err, out, stderr)
	}
	// The global --mode=warn does the same everywhere.
	guard(t, "--mode=warn")
	ns = framework.Namespace(t, c, "global-warn", nil)
	if _, stderr, err := framework.Kubectl(t, c, []byte(framework.StatefulSetYAML("web", "missing", "")), "apply", "-n", ns, "-f", "-"); err != nil {
		t.Errorf("--mode=warn: %v\n%s", err, stderr)
	}
}

func TestSystemNamespacesAreExcluded(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t)
	if _, stderr, err := framework.Kubectl(t, c, []byte(framework.StatefulSetYAML("web", "missing", "")), "apply", "-n", "kube-system", "-f", "-"); err != nil || stderr != "" {
		t.Errorf("kube-system must not be checked: %v\n%s", err, stderr)
	}
	framework.MustKubectl(t, c, nil, "delete", "statefulset", "web", "-n", "kube-system")
}

func TestMetricsCountDecisions(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t)
	ns := framework.Namespace(t, c, "metrics", nil)
	framework.Kubectl(t, c, []byte(framework.StatefulSetYAML("web", "missing", "")), "apply", "-n", ns, "-f", "-")
	resp, err := http.Get(c.Guard().MetricsURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`headless_guard_admission_requests_total{decision="denied",kind="StatefulSet",operation="CREATE",webhook="statefulsets"}`,
		`headless_guard_findings_total{action="deny",rule="HG002"}`,
		`headless_guard_admission_duration_seconds_bucket{webhook="statefulsets",le="0.0001"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestRequestBodiesAreNotLogged: a denied object's content must not reach
// the logs at default verbosity (objects carry env values, sometimes
// secrets).
func TestRequestBodiesAreNotLogged(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t)
	ns := framework.Namespace(t, c, "no-bodies", nil)
	const sentinel = "s3cr3t-value-that-must-not-be-logged"
	doc := strings.Replace(framework.StatefulSetYAML("web", "missing", ""), "        image: nginx:alpine\n", "        image: nginx:alpine\n        env:\n        - name: PASSWORD\n          value: "+sentinel+"\n", 1)
	if _, stderr, err := framework.Kubectl(t, c, []byte(doc), "apply", "-n", ns, "-f", "-"); err == nil {
		t.Fatalf("want a denial, got none: %s", stderr)
	}
	if _, _, err := framework.Kubectl(t, c, []byte(strings.Replace(doc, "missing", "", 1)), "apply", "--dry-run=server", "-n", ns, "-f", "-"); err != nil {
		t.Fatal(err)
	}
	if logs := c.Guard().Logs(); strings.Contains(logs, sentinel) {
		t.Errorf("the request body reached the logs:\n%s", logs)
	}
}

// TestAPIServerServiceNeverWaitsForTheWebhook: with headless-guard down
// (failurePolicy Fail), the API server can still delete and re-create its
// own default/kubernetes Service.
func TestAPIServerServiceNeverWaitsForTheWebhook(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t)
	if err := c.Guard().Stop(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Guard().Restart(); err != nil {
			t.Fatalf("restarting headless-guard: %v", err)
		}
	}()
	framework.MustKubectl(t, c, nil, "delete", "service", "kubernetes", "-n", "default")
	framework.Eventually(t, 60*time.Second, "default/kubernetes re-created by the API server", func() (bool, string) {
		out, errOut, err := framework.Kubectl(t, c, nil, "get", "service", "kubernetes", "-n", "default", "-o", "name")
		return err == nil && out == "service/kubernetes\n", errOut
	})
}
