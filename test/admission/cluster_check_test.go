package admission

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/test/cluster"
	"github.com/headless-guard/headless-guard/test/framework"
)

// headlessYAML is a headless Service selecting app=<selects>, or a
// ClusterIP one when headless is false.
func headlessYAML(name, selects string, headless bool) string {
	clusterIP := "  clusterIP: None\n"
	if !headless {
		clusterIP = ""
	}
	return fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\nspec:\n%s  selector:\n    app: %s\n  ports:\n  - name: web\n    port: 80\n", name, clusterIP, selects)
}

// seedViolations creates, in a namespace whose guard mode is warn (so the
// guard admits them), a headless Service `db-hl` for app=db, a StatefulSet
// `web` naming a Service that does not exist (HG002) and a StatefulSet
// `cache` whose Service is not headless (HG003).
func seedViolations(t *testing.T, c *cluster.Cluster) string {
	t.Helper()
	ns := framework.Namespace(t, c, "check-cluster", map[string]string{rules.ModeLabel: string(rules.ModeWarn)})
	seed := strings.Join([]string{
		headlessYAML("db-hl", "db", true),
		framework.StatefulSetYAML("web", "missing", ""),
		headlessYAML("cache", "cache", false),
		framework.StatefulSetYAML("cache", "cache", ""),
	}, "---\n")
	framework.MustKubectl(t, c, []byte(seed), "apply", "-n", ns, "-f", "-")
	return ns
}

// TestCheckCluster: --cluster completes the index with the live
// cluster's objects (the input wins), and with no input reports every
// violation of the cluster, in every format; real kube-apiserver, real
// kubectl.
func TestCheckCluster(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t)
	ns := seedViolations(t, c)
	kubeconfig := c.KubeconfigPath()

	// A StatefulSet whose Service only the cluster has.
	dir := t.TempDir()
	db := filepath.Join(dir, "db.yaml")
	os.WriteFile(db, []byte(strings.Replace(framework.StatefulSetYAML("db", "db-hl", ""), "  name: db\n", "  name: db\n  namespace: "+ns+"\n", 1)), 0o644)
	if r := framework.Run(t, nil, "check", db); r.Code != 1 || !strings.Contains(r.Stdout, "deny HG002") {
		t.Errorf("offline: exit %d, want 1 with HG002\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// Without its peer list, the default policy only warns; the strict
	// one denies whether or not anything uses the names.
	quiet := filepath.Join(dir, "quiet.yaml")
	dbYAML, _ := os.ReadFile(db)
	os.WriteFile(quiet, []byte(regexp.MustCompile(`(?m)^        env:\n.*\n.*\n`).ReplaceAllString(string(dbYAML), "")), 0o644)
	if r := framework.Run(t, nil, "check", quiet); r.Code != 0 || !strings.Contains(r.Stdout, "warn HG002") {
		t.Errorf("offline, no peer list, default policy: exit %d, want 0 with an HG002 warning\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := framework.Run(t, nil, "check", "--policy", "strict", quiet); r.Code != 1 || !strings.Contains(r.Stdout, "deny HG002") {
		t.Errorf("offline, no peer list, strict policy: exit %d, want 1 with HG002\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if r := framework.Run(t, nil, "check", "--cluster", "--kubeconfig", kubeconfig, db); r.Code != 0 || !strings.Contains(r.Stdout, "1 object checked: no findings") {
		t.Errorf("--cluster: exit %d, want 0: the cluster has Service db-hl\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// Read-only: a ServiceAccount that may only get and list Services and
	// StatefulSets of the namespace is enough, and check says what it
	// could not read.
	reader := framework.LimitedUser(t, c, ns, "ci-reader", rbacv1.PolicyRule{APIGroups: []string{"", "apps"}, Resources: []string{"services", "statefulsets"}, Verbs: []string{"get", "list"}})
	if r := framework.Run(t, nil, "check", "--cluster", "--kubeconfig", reader, db); r.Code != 0 || !strings.Contains(r.Stderr, "warning: cluster: may not list Deployments of namespace "+ns) {
		t.Errorf("--cluster as a reader of Services and StatefulSets: exit %d, want 0 with a warning\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// --fix with --cluster injects no Service the cluster has.
	if r := framework.Run(t, nil, "check", "--cluster", "--kubeconfig", kubeconfig, "--fix", db); r.Code != 0 || strings.Contains(r.Stderr, "fixed:") || strings.Contains(r.Stdout, "kind: Service") {
		t.Errorf("--cluster --fix: exit %d, want nothing fixed\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// The input wins: its Service db-hl is not headless, whatever the
	// cluster's is.
	both := filepath.Join(dir, "both.yaml")
	input, _ := os.ReadFile(db)
	os.WriteFile(both, []byte(string(input)+"---\n"+strings.Replace(headlessYAML("db-hl", "db", false), "  name: db-hl\n", "  name: db-hl\n  namespace: "+ns+"\n", 1)), 0o644)
	if r := framework.Run(t, nil, "check", "--policy", "strict", "--cluster", "--kubeconfig", kubeconfig, both); r.Code != 1 || !strings.Contains(r.Stdout, "deny HG003") {
		t.Errorf("--cluster with the Service in the input: exit %d, want the input's Service checked (HG003)\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// No input: the whole cluster. Other tests' namespaces are there too;
	// this test's namespace must have exactly its seeded violations.
	r := framework.Run(t, nil, "check", "--policy", "strict", "--cluster", "--kubeconfig", kubeconfig, "-o", "json")
	if r.Code != 1 {
		t.Fatalf("audit: exit %d, want 1\n%s", r.Code, r.Stderr)
	}
	var rep framework.JSONReport
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range rep.Findings {
		if f.Object.Namespace == ns {
			got = append(got, fmt.Sprintf("%s %s %s/%s %s", f.Rule, f.Severity, f.Object.Kind, f.Object.Name, f.File))
		}
	}
	sort.Strings(got)
	want := []string{
		"HG002 deny StatefulSet/web cluster:" + ns + "/StatefulSet/web",
		"HG003 deny StatefulSet/cache cluster:" + ns + "/StatefulSet/cache",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit of namespace %s:\n%s\nwant:\n%s", ns, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for format, want := range map[string]string{
		"text":   "cluster:" + ns + "/StatefulSet/web: deny HG002 service-exists: StatefulSet " + ns + "/web",
		"github": "::error title=HG002 service-exists (cluster%3A" + ns + "/StatefulSet/web)::StatefulSet " + ns + "/web",
		"sarif":  `"uri": "cluster:` + ns + `/StatefulSet/web"`,
		"junit":  `name="StatefulSet ` + ns + `/web"`,
	} {
		r := framework.Run(t, nil, "check", "--policy", "strict", "--cluster", "--kubeconfig", kubeconfig, "-o", format)
		if r.Code != 1 || !strings.Contains(r.Stdout, want) {
			t.Errorf("audit -o %s: exit %d, output lacks %q\n%s%s", format, r.Code, want, r.Stdout, r.Stderr)
		}
		if format == "junit" {
			var suites struct {
				Failures int `xml:"failures,attr"`
			}
			if err := xml.Unmarshal([]byte(r.Stdout), &suites); err != nil || suites.Failures < 2 {
				t.Errorf("audit -o junit: %d failures (%v), want the seeded two at least", suites.Failures, err)
			}
		}
	}

	if r := framework.Run(t, nil, "check", "--kubeconfig", kubeconfig, db); r.Code != 2 || !strings.Contains(r.Stderr, "--kubeconfig and --context only work with --cluster") {
		t.Errorf("--kubeconfig without --cluster: exit %d\n%s", r.Code, r.Stderr)
	}
}

// reviewOf is a captured AdmissionReview of the CREATE of a StatefulSet.
func reviewOf(t *testing.T, ns, name, serviceName string) []byte {
	t.Helper()
	obj := framework.RuntimeRaw(t, strings.Replace(framework.StatefulSetYAML(name, serviceName, ""), "  name: "+name+"\n", "  name: "+name+"\n  namespace: "+ns+"\n", 1))
	dryRun := false
	data, _ := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID("7f0b2c51-review"),
			Kind:      metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "StatefulSet"},
			Resource:  metav1.GroupVersionResource{Group: "apps", Version: "v1", Resource: "statefulsets"},
			Operation: admissionv1.Create, Namespace: ns, Name: name, DryRun: &dryRun,
			Object: obj,
		},
	})
	return data
}

// replayReview runs check --admission-review and decodes the response.
func replayReview(t *testing.T, review []byte, args ...string) (*admissionv1.AdmissionResponse, framework.Result) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "review.json")
	os.WriteFile(path, review, 0o644)
	r := framework.Run(t, nil, append([]string{"check", "--admission-review", path}, args...)...)
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil || out.Response == nil {
		t.Fatalf("not an AdmissionReview with a response (%v), exit %d:\n%s%s", err, r.Code, r.Stdout, r.Stderr)
	}
	if out.Response.UID != "7f0b2c51-review" || out.Kind != "AdmissionReview" {
		t.Errorf("response uid %q kind %q, want the request's uid", out.Response.UID, out.Kind)
	}
	return out.Response, r
}

// TestCheckAdmissionReview replays captured reviews through the
// webhook's handler: against an empty cluster, and against the live one,
// whose Services and namespace labels it reads.
func TestCheckAdmissionReview(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t)
	ns := seedViolations(t, c)
	kubeconfig := c.KubeconfigPath()

	// Empty cluster: no Service db-hl, enforce mode, strict policy:
	// denied, with causes.
	resp, r := replayReview(t, reviewOf(t, ns, "db", "db-hl"), "--policy", "strict")
	if r.Code != 1 || resp.Allowed || resp.Result == nil || resp.Result.Details == nil || len(resp.Result.Details.Causes) == 0 ||
		!strings.Contains(resp.Result.Details.Causes[0].Message, "(HG002 service-exists)") {
		t.Errorf("empty cluster: exit %d, response %+v, want HG002 denied", r.Code, resp)
	}
	if !strings.Contains(r.Stderr, "answered by the webhook at /validate/statefulsets") {
		t.Errorf("stderr does not name the webhook:\n%s", r.Stderr)
	}
	// The live cluster has db-hl: allowed without a word.
	resp, r = replayReview(t, reviewOf(t, ns, "db", "db-hl"), "--cluster", "--kubeconfig", kubeconfig)
	if r.Code != 0 || !resp.Allowed || len(resp.Warnings) != 0 {
		t.Errorf("live cluster, Service present: exit %d, response %+v, want allowed\n%s", r.Code, resp, r.Stderr)
	}
	// A missing Service in a namespace labelled mode=warn: allowed, warned.
	resp, r = replayReview(t, reviewOf(t, ns, "db2", "nope"), "--cluster", "--kubeconfig", kubeconfig)
	if r.Code != 0 || !resp.Allowed || len(resp.Warnings) == 0 || !strings.HasPrefix(resp.Warnings[0], "HG002 spec.serviceName: ") {
		t.Errorf("live cluster, mode=warn namespace: exit %d, response %+v, want allowed with an HG002 warning", r.Code, resp)
	}
	// The mutating webhook, picked by path.
	resp, r = replayReview(t, reviewOf(t, ns, "db", ""), "--webhook-path", "/mutate/statefulsets")
	if r.Code != 0 || !resp.Allowed {
		t.Errorf("--webhook-path /mutate/statefulsets: exit %d, response %+v\n%s", r.Code, resp, r.Stderr)
	}
	path := filepath.Join(t.TempDir(), "not-a-review.yaml")
	os.WriteFile(path, []byte("apiVersion: v1\nkind: Service\n"), 0o644)
	if r := framework.Run(t, nil, "check", "--admission-review", path); r.Code != 2 || !strings.Contains(r.Stderr, "`request` is required") {
		t.Errorf("not a review: exit %d\n%s", r.Code, r.Stderr)
	}
}

// TestCheckClusterDocs runs the cluster commands of docs/ci.md
// (framework.ClusterDocCommands) as written, in a checkout with the cluster's
// kubeconfig as ./kubeconfig.
func TestCheckClusterDocs(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t)
	checkout := framework.CopyFixtures(t)
	kc, err := os.ReadFile(c.KubeconfigPath())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(checkout, "kubeconfig"), kc, 0o600)
	// A StatefulSet named too long for its pods to exist (HG007): denied
	// in any policy.
	os.WriteFile(filepath.Join(checkout, "review.json"), reviewOf(t, "default", "web-"+strings.Repeat("abcdefgh", 7), "web"), 0o644)
	// envs/prod's StatefulSet (namespace default) names Service web, which
	// another release installed in the cluster.
	framework.MustKubectl(t, c, []byte(strings.Replace(headlessYAML("web", "web", true), "  - name: web\n    port: 80\n", "  - name: http\n    port: 80\n", 1)), "apply", "-n", "default", "-f", "-")
	t.Cleanup(func() {
		framework.Kubectl(t, c, nil, "delete", "service", "web", "-n", "default", "--ignore-not-found")
	})

	if len(framework.ClusterDocCommands) != 3 {
		t.Fatalf("clusterDocCommands changed: %v; give each a case here", framework.ClusterDocCommands)
	}
	r := framework.Shell(t, checkout, framework.ClusterDocCommands[0])
	if r.Code != 0 || !strings.Contains(r.Stdout, "1 object checked: no findings") {
		t.Errorf("%s: exit %d, want 0 (the cluster has Service web)\n%s%s", framework.ClusterDocCommands[0], r.Code, r.Stdout, r.Stderr)
	}
	r = framework.Shell(t, checkout, framework.ClusterDocCommands[1])
	if (r.Code != 0 && r.Code != 1) || !strings.Contains(r.Stdout, "objects checked") || !strings.Contains(r.Stdout, "cluster:") {
		t.Errorf("%s: exit %d, want a report of the cluster\n%s%s", framework.ClusterDocCommands[1], r.Code, r.Stdout, r.Stderr)
	}
	// The name is too long for the pods: denied, exit 1.
	r = framework.Shell(t, checkout, framework.ClusterDocCommands[2])
	if r.Code != 1 || !strings.Contains(r.Stdout, `"allowed": false`) {
		t.Errorf("%s: exit %d, want a denial\n%s%s", framework.ClusterDocCommands[2], r.Code, r.Stdout, r.Stderr)
	}
}

// TestDryRunSaysWhatItCannotSee: a server-side dry-run with a typo'd
// serviceName next to a headless Service that selects the pods warns with
// the name it probably meant and when to ignore the warning; real
// kubectl, real kube-apiserver, the guard.
func TestDryRunSaysWhatItCannotSee(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t)
	ns := framework.Namespace(t, c, "dry-run-honest", nil)
	framework.MustKubectl(t, c, []byte(headlessYAML("db-hl", "db", true)), "apply", "-n", ns, "-f", "-")
	out, stderr, err := framework.Kubectl(t, c, []byte(framework.StatefulSetYAML("db", "db-h1", "")), "apply", "--dry-run=server", "-n", ns, "-f", "-")
	if err != nil || !strings.Contains(out, "(server dry run)") {
		t.Fatalf("dry run: %v\n%s%s", err, out, stderr)
	}
	want := "Warning: HG002 spec.serviceName: must name an existing Service in namespace `" + ns + "`: did you mean `db-hl` (a headless Service that selects these pods); if Service `db-h1` is part of this apply, ignore this"
	if !strings.Contains(stderr, want) {
		t.Errorf("dry-run warning:\n%s\nwant it to contain\n%s", stderr, want)
	}
}
