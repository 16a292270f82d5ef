package deploy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/headless-guard/headless-guard/certs"
	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/test/cluster"
	"github.com/headless-guard/headless-guard/test/framework"
)

// The chart, and the values deploy/base is rendered with.
const (
	chartDir         = "deploy/chart/headless-guard"
	baseValuesFile   = "deploy/chart/kustomize-base.values.yaml"
	helmGoldenDir    = "testdata/helm"
	releaseName      = "headless-guard"
	reportsCRDModule = "github.com/openreports/reports-api"
)

// helmProfiles are the values profiles with golden renders in
// testdata/helm/<profile>.yaml; their values are in
// testdata/helm/<profile>.values.yaml (none for default).
var helmProfiles = []string{"default", "cert-manager", "secret", "everything-on"}

// helmCLI is the helm command line of one major version. The chart's
// tests run with Helm 4 (bin/helm) and Helm 3 (bin/helm3): most clusters
// are still installed with Helm 3, which applies, upgrades and uninstalls
// differently (client-side three-way merges, its own deletion order).
type helmCLI struct {
	major int
	bin   string
}

func (h helmCLI) String() string { return fmt.Sprintf("helm%d", h.major) }

// helmVersions caches `helm version` per binary.
var helmVersions sync.Map

// helmCLIs are Helm 4 and Helm 3, each checked to be the version it is
// named after: a Helm 4 copied to bin/helm3 would test nothing new.
func helmCLIs(t *testing.T) []helmCLI {
	t.Helper()
	clis := []helmCLI{{4, framework.FindHelm(t, "helm")}, {3, framework.FindHelm(t, "helm3")}}
	for _, h := range clis {
		v, ok := helmVersions.Load(h.bin)
		if !ok {
			out, _, err := runHelm(t, h.bin, "", "version", "--short")
			if err != nil {
				t.Fatalf("%s version: %v", h.bin, err)
			}
			v, _ = helmVersions.LoadOrStore(h.bin, strings.TrimSpace(out))
		}
		if !strings.HasPrefix(v.(string), fmt.Sprintf("v%d.", h.major)) {
			t.Fatalf("%s is %s, not Helm %d", h.bin, v, h.major)
		}
	}
	return clis
}

// runHelm runs the real helm bin in the repository root with its
// configuration, cache and data in a temporary directory, and kubeconfig
// when not "".
func runHelm(t *testing.T, bin, kubeconfig string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	home := t.TempDir()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = framework.RepoRoot(t)
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"), "KUBECONFIG="+kubeconfig)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	return out.String(), errOut.String(), err
}

func (h helmCLI) run(t *testing.T, kubeconfig string, args ...string) (string, string, error) {
	t.Helper()
	return runHelm(t, h.bin, kubeconfig, args...)
}

func (h helmCLI) mustBoth(t *testing.T, kubeconfig string, args ...string) (string, string) {
	t.Helper()
	out, errOut, err := h.run(t, kubeconfig, args...)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", h, strings.Join(args, " "), err, errOut)
	}
	return out, errOut
}

func (h helmCLI) must(t *testing.T, kubeconfig string, args ...string) string {
	t.Helper()
	out, _ := h.mustBoth(t, kubeconfig, args...)
	return out
}

// template renders the chart into namespace with a profile's values and
// extra flags.
func (h helmCLI) template(t *testing.T, namespace, profile string, extra ...string) string {
	t.Helper()
	args := append([]string{"template", releaseName, chartDir, "--namespace", namespace}, profileArgs(profile)...)
	return h.must(t, "", append(args, extra...)...)
}

// helm4 is Helm 4, which the tests that are not about Helm use.
func helm4(t *testing.T) helmCLI {
	t.Helper()
	return helmCLI{4, framework.HelmBinary(t)}
}

// helm runs Helm 4 (see runHelm).
func helm(t *testing.T, kubeconfig string, args ...string) (string, string, error) {
	t.Helper()
	return helm4(t).run(t, kubeconfig, args...)
}

func mustHelm(t *testing.T, kubeconfig string, args ...string) string {
	t.Helper()
	return helm4(t).must(t, kubeconfig, args...)
}

// profileArgs are the helm flags of a values profile.
func profileArgs(profile string) []string {
	if profile == "default" {
		return nil
	}
	return []string{"-f", filepath.Join("test", "deploy", helmGoldenDir, profile+".values.yaml")}
}

// helmTemplate renders the chart with Helm 4 (see helmCLI.template).
func helmTemplate(t *testing.T, namespace, profile string, extra ...string) string {
	t.Helper()
	return helm4(t).template(t, namespace, profile, extra...)
}

// parseDocs splits a rendered stream into its objects.
func parseDocs(t *testing.T, stream string) []framework.ManifestDoc {
	t.Helper()
	var docs []framework.ManifestDoc
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(stream)))
	for {
		raw, err := r.Read()
		if err == io.EOF {
			return docs
		}
		if err != nil {
			t.Fatal(err)
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(raw, &meta); err != nil {
			t.Fatalf("%v\n%s", err, raw)
		}
		if meta.Kind == "" {
			continue
		}
		gv, err := schema.ParseGroupVersion(meta.APIVersion)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, framework.ManifestDoc{GVK: gv.WithKind(meta.Kind), Name: meta.Metadata.Name, Raw: raw})
	}
}

// TestHelmLint runs `helm lint --strict` with every profile's values,
// with Helm 4 and Helm 3.
func TestHelmLint(t *testing.T) {
	for _, h := range helmCLIs(t) {
		for _, p := range helmProfiles {
			t.Run(h.String()+"/"+p, func(t *testing.T) {
				out := h.must(t, "", append([]string{"lint", "--strict", chartDir, "--namespace", framework.GuardNamespace}, profileArgs(p)...)...)
				if !strings.Contains(out, "1 chart(s) linted, 0 chart(s) failed") || strings.Contains(out, "[WARNING]") {
					t.Errorf("%s lint:\n%s", h, out)
				}
			})
		}
	}
}

// TestHelmTemplate compares each profile's render, by Helm 4 and by Helm
// 3, with its golden file (UPDATE_GOLDEN=1 rewrites them, from Helm 4's)
// and holds the default and cert-manager renders to what TestDeploy holds
// the overlays to.
func TestHelmTemplate(t *testing.T) {
	for _, h := range helmCLIs(t) {
		t.Run(h.String(), func(t *testing.T) { testHelmTemplate(t, h) })
	}
}

func testHelmTemplate(t *testing.T, h helmCLI) {
	for _, p := range helmProfiles {
		t.Run(p, func(t *testing.T) {
			got := h.template(t, framework.GuardNamespace, p)
			golden := filepath.Join(helmGoldenDir, p+".yaml")
			if os.Getenv("UPDATE_GOLDEN") != "" && h.major == 4 {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			// Helm 3 orders the kinds it does not know (Lease, cert-manager's,
			// ServiceMonitor) elsewhere and trims each document's trailing
			// blank lines: the same documents, byte for byte, in its order.
			if h.major == 3 {
				if diff := cmp.Diff(renderDocuments(string(want)), renderDocuments(got)); diff != "" {
					t.Errorf("%s template with %s values renders other documents than %s (-want +got):\n%s", h, p, golden, diff)
				}
			} else if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s template with %s values differs from %s (UPDATE_GOLDEN=1 rewrites it; review the diff) (-want +got):\n%s", h, p, golden, diff)
			}
			docs := parseDocs(t, got)
			switch p {
			case "default":
				checkRender(t, "self-signed", docs)
			case "cert-manager":
				checkRender(t, "cert-manager", docs)
			}
		})
	}
}

// renderDocuments are the documents of a helm render, without the
// blank lines around them, sorted.
func renderDocuments(render string) []string {
	var docs []string
	for _, d := range strings.Split("\n"+render, "\n---\n") {
		if d = strings.TrimSpace(d); d != "" {
			docs = append(docs, d)
		}
	}
	slices.Sort(docs)
	return docs
}

// TestHelmValues: the schema refuses what would install something else
// than asked, and the values do what they say.
func TestHelmValues(t *testing.T) {
	refused := map[string][]string{
		"a misspelt key":              {"--set", "replicaz=3"},
		"a misspelt nested key":       {"--set", "webhooks.failurePolicy.statefulsetValidate=Ignore"},
		"an unknown mode":             {"--set", "mode=block"},
		"an unknown policy":           {"--set", "policy=lenient"},
		"an unknown controllerOwned":  {"--set", "controllerOwned=deny"},
		"a grace period with no unit": {"--set-string", "audit.gracePeriod=120"},
		"an unknown failure policy":   {"--set", "webhooks.failurePolicy.servicesValidate=Never"},
		"an unknown rule action":      {"--set", "rules.HG004=block"},
		"a rule that is no rule":      {"--set", "rules.HG4=warn"},
		"an unknown certificate mode": {"--set", "certificates.mode=vault"},
		"zero replicas":               {"--set", "replicas=0"},
		"secret mode without a name":  {"--set", "certificates.mode=secret"},
	}
	// Helm 3 and 4 validate values.schema.json with their own code: both
	// must refuse.
	for _, h := range helmCLIs(t) {
		for name, args := range refused {
			t.Run("refused/"+h.String()+"/"+name, func(t *testing.T) {
				out, stderr, err := h.run(t, "", append([]string{"template", releaseName, chartDir, "--namespace", framework.GuardNamespace}, args...)...)
				if err == nil {
					t.Fatalf("%s template %v succeeded:\n%s", h, args, out)
				}
				if !strings.Contains(stderr, "values don't meet the specifications of the schema") && !strings.Contains(stderr, "is required") {
					t.Errorf("not refused by the schema or a required value: %s", stderr)
				}
			})
		}
	}

	t.Run("defaults", func(t *testing.T) {
		docs := parseDocs(t, helmTemplate(t, "elsewhere", "default"))
		vwc := decode[admissionregistrationv1.ValidatingWebhookConfiguration](t, docs, "ValidatingWebhookConfiguration", "headless-guard")
		mwc := decode[admissionregistrationv1.MutatingWebhookConfiguration](t, docs, "MutatingWebhookConfiguration", "headless-guard")
		got := map[string]string{}
		for _, w := range vwc.Webhooks {
			got[w.Name] = string(*w.FailurePolicy) + " " + strings.Join(w.NamespaceSelector.MatchExpressions[0].Values, ",")
		}
		for _, w := range mwc.Webhooks {
			got[w.Name] = string(*w.FailurePolicy) + " " + strings.Join(w.NamespaceSelector.MatchExpressions[0].Values, ",")
		}
		want := map[string]string{
			"statefulsets.validate.headless-guard.io":    "Fail kube-system,elsewhere",
			"services.validate.headless-guard.io":        "Fail kube-system,elsewhere",
			"services-delete.validate.headless-guard.io": "Ignore kube-system,elsewhere",
			"workloads.validate.headless-guard.io":       "Ignore kube-system,elsewhere",
			"statefulsets.mutate.headless-guard.io":      "Ignore kube-system,elsewhere",
			"services.mutate.headless-guard.io":          "Ignore kube-system,elsewhere",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("failure policies and excluded namespaces (-want +got):\n%s", diff)
		}
		// The webhook configurations of the chart are the base's, which
		// the integration tests register: same webhooks, rules, paths.
		base := parseDocs(t, readRepoFile(t, "deploy/base/webhooks.yaml"))
		baseVWC := decode[admissionregistrationv1.ValidatingWebhookConfiguration](t, base, "ValidatingWebhookConfiguration", "headless-guard")
		for i := range baseVWC.Webhooks {
			baseVWC.Webhooks[i].NamespaceSelector = nil
			baseVWC.Webhooks[i].ClientConfig.Service.Namespace = "elsewhere"
			vwc.Webhooks[i].NamespaceSelector = nil
		}
		if diff := cmp.Diff(baseVWC.Webhooks, vwc.Webhooks); diff != "" {
			t.Errorf("the chart's validating webhooks are not deploy/base's (-base +chart):\n%s", diff)
		}
	})

	t.Run("everything-on", func(t *testing.T) {
		docs := parseDocs(t, helmTemplate(t, framework.GuardNamespace, "everything-on"))
		dep := decode[appsv1.Deployment](t, docs, "Deployment", "headless-guard")
		args := dep.Spec.Template.Spec.Containers[0].Args
		for _, a := range []string{"--mode=warn", "--policy=strict", "--controller-owned=enforce", "--rule=HG004=warn", "--rule=HG012=deny", "--inject", "--fix-labels", "--audit=false",
			"--client-ca-file=/client-ca/ca.crt", "--client-allowed-names=kube-apiserver-webhook-client", "--tls-min-version=1.3"} {
			if !slices.Contains(args, a) {
				t.Errorf("args %v lack %s", args, a)
			}
		}
		help, err := exec.Command(framework.Binary, "serve", "--help").CombinedOutput()
		if err != nil {
			t.Fatalf("serve --help: %v\n%s", err, help)
		}
		for _, a := range args[1:] {
			name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
			if !strings.Contains(string(help), "--"+name+" ") {
				t.Errorf("argument %q: not a flag of headless-guard serve", a)
			}
		}
		reports := decode[appsv1.Deployment](t, parseDocs(t, helmTemplate(t, framework.GuardNamespace, "default", "--set", "audit.reports=false")), "Deployment", "headless-guard")
		if !slices.Contains(reports.Spec.Template.Spec.Containers[0].Args, "--audit-reports=false") || !strings.Contains(string(help), "--audit-reports ") {
			t.Errorf("audit.reports=false: args %v", reports.Spec.Template.Spec.Containers[0].Args)
		}
		graced := decode[appsv1.Deployment](t, parseDocs(t, helmTemplate(t, framework.GuardNamespace, "default", "--set", "audit.gracePeriod=30s")), "Deployment", "headless-guard")
		if !slices.Contains(graced.Spec.Template.Spec.Containers[0].Args, "--audit-grace-period=30s") || !strings.Contains(string(help), "--audit-grace-period ") {
			t.Errorf("audit.gracePeriod=30s: args %v", graced.Spec.Template.Spec.Containers[0].Args)
		}
		if *dep.Spec.Replicas != 3 {
			t.Errorf("replicas %d, want 3", *dep.Spec.Replicas)
		}
		vwc := decode[admissionregistrationv1.ValidatingWebhookConfiguration](t, docs, "ValidatingWebhookConfiguration", "headless-guard")
		for _, w := range vwc.Webhooks {
			if w.Name == "workloads.validate.headless-guard.io" && *w.FailurePolicy != admissionregistrationv1.Fail {
				t.Errorf("%s: failurePolicy %s, want the value's Fail", w.Name, *w.FailurePolicy)
			}
			if !slices.Contains(w.NamespaceSelector.MatchExpressions[0].Values, "my-addon") {
				t.Errorf("%s does not exclude my-addon", w.Name)
			}
		}
		for _, kind := range []string{"NetworkPolicy", "ServiceMonitor", "CustomResourceDefinition", "ConfigMap"} {
			if !slices.ContainsFunc(docs, func(d framework.ManifestDoc) bool { return d.GVK.Kind == kind }) {
				t.Errorf("no %s in the render", kind)
			}
		}
		for _, kind := range []string{"PodDisruptionBudget", "PriorityClass"} {
			if slices.ContainsFunc(docs, func(d framework.ManifestDoc) bool { return d.GVK.Kind == kind }) {
				t.Errorf("a %s although the values turn it off", kind)
			}
		}
	})

	// cert-manager mode: the objects certs.CertManagerObjects describes (as
	// the overlay's generated certificates.yaml), in the release namespace.
	t.Run("cert-manager objects", func(t *testing.T) {
		const ns = "elsewhere"
		docs := parseDocs(t, helmTemplate(t, ns, "cert-manager"))
		// Helm orders objects by kind: compared by kind and name.
		got := map[string]map[string]any{}
		for _, d := range docs {
			if d.GVK.Group == "cert-manager.io" {
				m := map[string]any{}
				if err := yaml.Unmarshal(d.Raw, &m); err != nil {
					t.Fatal(err)
				}
				delete(m["metadata"].(map[string]any), "labels")
				got[d.GVK.Kind+"/"+d.Name] = m
			}
		}
		want := map[string]map[string]any{}
		for _, obj := range certs.CertManagerObjects(certs.Names{Service: certs.DefaultServiceName, Namespace: ns}, certs.DefaultSecretName) {
			m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
			if err != nil {
				t.Fatal(err)
			}
			delete(m, "status")
			delete(m["metadata"].(map[string]any), "creationTimestamp")
			// Through YAML, as the render: numbers and lists alike.
			data, _ := yaml.Marshal(m)
			m = map[string]any{}
			if err := yaml.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			want[m["kind"].(string)+"/"+obj.GetName()] = m
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("the chart's Issuers and Certificates are not certs.CertManagerObjects' (-certs +chart):\n%s", diff)
		}
	})

	// The Report CRD is the reports-api module's, copied verbatim.
	t.Run("report CRD", func(t *testing.T) {
		dir := moduleDir(t, reportsCRDModule)
		want := framework.ReadFile(t, filepath.Join(dir, "config", "crd", "openreports.io_reports.yaml"))
		if got := readRepoFile(t, chartDir+"/files/openreports.io_reports.yaml"); got != want {
			t.Errorf("%s/files/openreports.io_reports.yaml is not the CRD of %s (copy it again)", chartDir, dir)
		}
		if slices.ContainsFunc(parseDocs(t, helmTemplate(t, framework.GuardNamespace, "default")), func(d framework.ManifestDoc) bool { return d.GVK.Kind == "CustomResourceDefinition" }) {
			t.Errorf("the CRD is installed by default")
		}
		docs := parseDocs(t, helmTemplate(t, framework.GuardNamespace, "default", "--set", "reports.installCRD=true"))
		var rendered, orig map[string]any
		for _, d := range docs {
			if d.GVK.Kind == "CustomResourceDefinition" {
				if err := yaml.Unmarshal(d.Raw, &rendered); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := yaml.Unmarshal([]byte(want), &orig); err != nil {
			t.Fatal(err)
		}
		meta := rendered["metadata"].(map[string]any)
		if meta["annotations"].(map[string]any)["helm.sh/resource-policy"] != "keep" {
			t.Errorf("the CRD is not kept on uninstall: %v", meta["annotations"])
		}
		delete(meta["annotations"].(map[string]any), "helm.sh/resource-policy")
		delete(meta, "labels")
		if diff := cmp.Diff(orig, rendered); diff != "" {
			t.Errorf("the rendered CRD is not the module's (-module +chart):\n%s", diff)
		}
	})
}

// TestHelmRendersTheBase: deploy/base is the chart rendered with
// deploy/chart/kustomize-base.values.yaml, one file per template, and lists
// exactly those files. UPDATE_GOLDEN=1 (make manifests) rewrites them.
func TestHelmRendersTheBase(t *testing.T) {
	root := framework.RepoRoot(t)
	out := mustHelm(t, "", "template", releaseName, chartDir, "--namespace", framework.GuardNamespace, "-f", baseValuesFile)
	files := splitBySource(t, out)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	base := filepath.Join(root, "deploy", "base")
	if os.Getenv("UPDATE_GOLDEN") != "" {
		for _, name := range names {
			if err := os.WriteFile(filepath.Join(base, name), []byte(files[name]), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, name := range names {
		got, err := os.ReadFile(filepath.Join(base, name))
		if err != nil {
			t.Errorf("%v: run `make manifests`", err)
			continue
		}
		if diff := cmp.Diff(files[name], string(got)); diff != "" {
			t.Errorf("deploy/base/%s is not the chart's render; run `make manifests` (-chart +committed):\n%s", name, diff)
		}
	}
	// Every file of the base is rendered and listed in its kustomization.
	var kust struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal([]byte(readRepoFile(t, "deploy/base/kustomization.yaml")), &kust); err != nil {
		t.Fatal(err)
	}
	listed := slices.Sorted(slices.Values(kust.Resources))
	if !slices.Equal(listed, names) {
		t.Errorf("deploy/base/kustomization.yaml lists %v; the chart renders %v", listed, names)
	}
	entries, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "kustomization.yaml" && !slices.Contains(names, e.Name()) {
			t.Errorf("deploy/base/%s is not rendered from the chart: remove it or add it to the chart", e.Name())
		}
	}
}

// baseHeader heads every rendered file of deploy/base.
const baseHeader = "# Generated by `make manifests`: helm template " + releaseName + " " + chartDir + "\n" +
	"# --namespace " + framework.GuardNamespace + " -f " + baseValuesFile + ".\n" +
	"# Edit the chart, not this file.\n"

// splitBySource splits a helm render into one file per template, named
// after it, with baseHeader.
func splitBySource(t *testing.T, out string) map[string]string {
	t.Helper()
	files := map[string]string{}
	source := regexp.MustCompile(`^# Source: [^/]+/templates/(.+)$`)
	var cur string
	for _, doc := range strings.Split(out, "\n---\n") {
		doc = strings.TrimPrefix(doc, "---\n")
		first, rest, _ := strings.Cut(doc, "\n")
		m := source.FindStringSubmatch(first)
		if m == nil {
			if strings.TrimSpace(doc) != "" {
				t.Fatalf("a document without its template's name:\n%s", doc)
			}
			continue
		}
		cur = m[1]
		if strings.Contains(cur, "/") {
			t.Fatalf("template %s: deploy/base is flat", cur)
		}
		if _, ok := files[cur]; !ok {
			files[cur] = baseHeader
		}
		files[cur] += "---\n" + strings.TrimRight(rest, "\n") + "\n"
	}
	return files
}

// TestHelmMatchesTheOverlays: the chart's self-managed and cert-manager
// renders are the self-signed and cert-manager overlays (built on the
// rendered base), object for object, but for the labels Helm adds.
func TestHelmMatchesTheOverlays(t *testing.T) {
	kubectlBin := filepath.Join(cluster.AssetsDir(framework.RepoRoot(t)), "kubectl")
	for profile, overlay := range map[string]string{"default": "self-signed", "cert-manager": "cert-manager"} {
		t.Run(overlay, func(t *testing.T) {
			out, err := exec.Command(kubectlBin, "kustomize", filepath.Join(framework.RepoRoot(t), "deploy", "overlays", overlay)).Output()
			if err != nil {
				t.Fatalf("kubectl kustomize: %v", err)
			}
			want := objectsByKey(t, parseDocs(t, string(out)))
			got := objectsByKey(t, parseDocs(t, helmTemplate(t, framework.GuardNamespace, profile, "--set", "namespace.create=true", "--set", "image.tag=latest")))
			for key, w := range want {
				g, ok := got[key]
				if !ok {
					t.Errorf("%s: in the overlay, not in the chart", key)
					continue
				}
				wl, _ := w["metadata"].(map[string]any)["labels"].(map[string]any)
				gl, _ := g["metadata"].(map[string]any)["labels"].(map[string]any)
				for k, v := range wl {
					if gl[k] != v {
						t.Errorf("%s: label %s=%v in the overlay, %v in the chart", key, k, v, gl[k])
					}
				}
				delete(w["metadata"].(map[string]any), "labels")
				delete(g["metadata"].(map[string]any), "labels")
				if diff := cmp.Diff(w, g); diff != "" {
					t.Errorf("%s (-overlay +chart):\n%s", key, diff)
				}
			}
			for key := range got {
				// The chart alone creates the self-managed certificate Secret
				// (empty), so that `helm uninstall` removes it; the overlay's
				// `kubectl delete -k` removes the namespace it is in, and an
				// overlay Secret would fail the apply over an installation's
				// existing one (its type is immutable).
				if _, ok := want[key]; !ok && !(overlay == "self-signed" && key == "Secret/"+certs.DefaultSecretName) {
					t.Errorf("%s: in the chart, not in the overlay", key)
				}
			}
		})
	}
}

func objectsByKey(t *testing.T, docs []framework.ManifestDoc) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, d := range docs {
		m := map[string]any{}
		if err := yaml.Unmarshal(d.Raw, &m); err != nil {
			t.Fatal(err)
		}
		out[d.GVK.Kind+"/"+d.Name] = m
	}
	return out
}

func readRepoFile(t *testing.T, rel string) string {
	t.Helper()
	return framework.ReadFile(t, filepath.Join(framework.RepoRoot(t), rel))
}

// moduleDir is the directory of a module the main module requires.
func moduleDir(t *testing.T, module string) string {
	t.Helper()
	for _, args := range [][]string{{"list", "-m", "-f", "{{.Dir}}", module}, {"mod", "download", "-json", module}} {
		cmd := exec.Command("go", args...)
		cmd.Dir = framework.RepoRoot(t)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go %s: %v", strings.Join(args, " "), err)
		}
		var dl struct{ Dir string }
		if args[0] == "mod" {
			if err := yaml.Unmarshal(out, &dl); err != nil {
				t.Fatal(err)
			}
		} else {
			dl.Dir = strings.TrimSpace(string(out))
		}
		if dl.Dir != "" {
			return dl.Dir
		}
	}
	t.Fatalf("module %s has no directory", module)
	return ""
}

// guardArgsOf are the arguments of the chart's Deployment for a guard run
// by StartGuard: the addresses, ports and certificate directory are the
// local ones StartGuard and extra set.
func guardArgsOf(t *testing.T, dep *appsv1.Deployment, extra ...string) []string {
	t.Helper()
	local := map[string]bool{"webhook-port": true, "webhook-cert-path": true, "metrics-bind-address": true, "health-probe-bind-address": true}
	var args []string
	for i, a := range dep.Spec.Template.Spec.Containers[0].Args {
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		switch {
		case i == 0 && a == "serve":
		case local[name]:
		default:
			args = append(args, a)
		}
	}
	return append(args, extra...)
}

// deleteWebhookConfigurations deletes the configurations envtest
// registered, for good: the chart's take their place.
func deleteWebhookConfigurations(t *testing.T, c *cluster.Cluster) {
	t.Helper()
	for _, obj := range []client.Object{&admissionregistrationv1.ValidatingWebhookConfiguration{}, &admissionregistrationv1.MutatingWebhookConfiguration{}} {
		obj.SetName(certs.DefaultWebhookConfigName)
		if err := c.Client().Delete(t.Context(), obj); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHelmInstall installs the chart on a real kube-apiserver (a server
// dry run first), runs the guard as the chart's ServiceAccount with the
// chart's RBAC and the arguments of its Deployment, upgrades it, and
// uninstalls it: nothing of it is left and writes are no longer checked.
// The chart's webhook configurations point at the local guard
// (webhooks.url); in self-managed mode the guard fills their caBundle.
//
// Helm 4, then Helm 3 on the same cluster: each installs where the other
// uninstalled, so nothing the first left behind goes unnoticed.
func TestHelmInstall(t *testing.T) {
	// Alongside TestRelease only: namespace() is not safe for concurrent use.
	t.Parallel()
	c := cluster.Setup(t, cluster.Options{APIServerFlags: map[string]string{"enable-admission-plugins": "OwnerReferencesPermissionEnforcement"}})
	deleteWebhookConfigurations(t, c)
	for _, h := range helmCLIs(t) {
		if !t.Run(h.String(), func(t *testing.T) { testHelmInstall(t, c, h) }) {
			return
		}
	}
}

func testHelmInstall(t *testing.T, c *cluster.Cluster, h helmCLI) {
	ctx := t.Context()
	ns := "hg-" + h.String()
	kc := c.KubeconfigPath()
	framework.MustKubectl(t, c, nil, "create", "namespace", ns)
	framework.MustKubectl(t, c, nil, "label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
	install := []string{releaseName, chartDir, "--namespace", ns, "--set", fmt.Sprintf("webhooks.url=https://127.0.0.1:%d", c.WebhookPort())}

	t.Run("dry-run=server", func(t *testing.T) {
		installCertManagerCRDs(t, c)
		for _, p := range helmProfiles {
			args := append(append([]string{"install", "--dry-run=server"}, install...), profileArgs(p)...)
			if p == "everything-on" {
				// Its ServiceMonitor needs prometheus-operator's CRD.
				args = append(args, "--set", "metrics.serviceMonitor.enabled=false")
			}
			out, stderr := h.mustBoth(t, kc, args...)
			if strings.Contains(stderr, "Warning") {
				t.Errorf("%s: warnings from the API server:\n%s", p, stderr)
			}
			if !strings.Contains(out, "kind: ValidatingWebhookConfiguration") {
				t.Errorf("%s: the dry run shows no webhook configuration:\n%s", p, out)
			}
		}
		err := c.Client().Get(ctx, client.ObjectKey{Name: certs.DefaultWebhookConfigName}, &admissionregistrationv1.ValidatingWebhookConfiguration{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("after a dry run, the webhook configuration: %v, want NotFound", err)
		}
		if out := h.must(t, kc, "list", "-A", "-q"); strings.TrimSpace(out) != "" {
			t.Errorf("a dry run left releases: %s", out)
		}
	})
	if t.Failed() {
		return
	}

	h.must(t, kc, append([]string{"install"}, install...)...)
	dep := &appsv1.Deployment{}
	if err := c.Client().Get(ctx, client.ObjectKey{Namespace: ns, Name: "headless-guard"}, dep); err != nil {
		t.Fatal(err)
	}
	kubeconfig, _, _ := framework.SaKubeconfig(t, c, ns, "headless-guard")
	local := []string{"--kubeconfig", kubeconfig, "--cert-namespace=" + ns, "--leader-election-namespace=" + ns,
		"--webhook-cert-path=" + t.TempDir(), "--cert-dns-names=127.0.0.1,localhost", "--shutdown-delay=0s", framework.TestAuditGrace}
	// Ready only once the API server reached it through the chart's
	// configurations, with the caBundle it patched in.
	g := framework.StartGuard(t, c, guardArgsOf(t, dep, local...)...)
	var injected string
	t.Run("install", func(t *testing.T) {
		// A StatefulSet alone is denied in the strict policy only.
		den := framework.Namespace(t, c, "helm-deny", map[string]string{rules.PolicyLabel: string(rules.LevelStrict)})
		if _, stderr, err := framework.Kubectl(t, c, []byte(framework.StatefulSetYAML("web", "web", "")), "apply", "-n", den, "-f", "-"); err == nil || !strings.Contains(stderr, "HG002") {
			t.Errorf("want an HG002 denial: %v\n%s", err, stderr)
		}
		injected = framework.Namespace(t, c, "helm-inject", map[string]string{rules.InjectLabel: "true"})
		// The label needs injectNamespaces too (RBAC cannot follow a label):
		// its Role, as the chart renders it.
		rbac := mustHelm(t, "", "template", releaseName, chartDir, "--namespace", ns, "--show-only", "templates/rbac.yaml", "--set", "injectNamespaces={"+injected+"}")
		framework.MustKubectl(t, c, framework.Join(parseDocs(t, rbac), func(d framework.ManifestDoc) bool { return d.Name == "headless-guard-inject" }), "apply", "-f", "-")
		framework.MustKubectl(t, c, []byte(framework.StatefulSetYAML("web", "", "")), "apply", "-n", injected, "-f", "-")
		framework.Eventually(t, 30*time.Second, "the injected Service, owned", func() (bool, string) {
			owner, _ := framework.GetJSONPath(t, c, "{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].blockOwnerDeletion}", "service", "web", "-n", injected)
			return owner == "web/true", owner
		})
		aud := framework.Namespace(t, c, "helm-audit", map[string]string{rules.ModeLabel: "warn"})
		framework.MustKubectl(t, c, []byte(framework.StatefulSetYAML("web", "web", "")), "apply", "-n", aud, "-f", "-")
		framework.Eventually(t, 30*time.Second, "an audit Event", func() (bool, string) {
			got := framework.MustKubectl(t, c, nil, "get", "events", "-n", aud, "--field-selector", "reason=HeadlessGuardViolation", "-o", "name")
			return got != "", got
		})
		// The leader holds the chart's Lease.
		framework.Eventually(t, 30*time.Second, "the chart's Lease held", func() (bool, string) {
			lease := &coordinationv1.Lease{}
			if err := c.Client().Get(ctx, client.ObjectKey{Namespace: ns, Name: "headless-guard.io"}, lease); err != nil {
				return false, err.Error()
			}
			return lease.Spec.HolderIdentity != nil && lease.Annotations["meta.helm.sh/release-name"] == releaseName, fmt.Sprint(lease.Spec.HolderIdentity, lease.Annotations)
		})
	})

	t.Run("upgrade", func(t *testing.T) {
		before := webhookCABundles(t, c)
		h.must(t, kc, "upgrade", releaseName, chartDir, "--namespace", ns, "--reuse-values", "--set", "mode=warn", "--set", "replicas=3")
		// The upgrade keeps what the guard patched in.
		if after := webhookCABundles(t, c); !slices.Equal(after, before) || len(after) != 6 || after[0] == "" {
			t.Fatalf("caBundles after the upgrade differ or are empty: before %d, after %d", len(before), len(after))
		}
		if err := c.Client().Get(ctx, client.ObjectKey{Namespace: ns, Name: "headless-guard"}, dep); err != nil {
			t.Fatal(err)
		}
		if *dep.Spec.Replicas != 3 || !slices.Contains(dep.Spec.Template.Spec.Containers[0].Args, "--mode=warn") {
			t.Fatalf("after the upgrade: replicas %d, args %v", *dep.Spec.Replicas, dep.Spec.Template.Spec.Containers[0].Args)
		}
		if err := g.Restart(guardArgsOf(t, dep, local...)...); err != nil {
			t.Fatal(err)
		}
		warned := framework.Namespace(t, c, "helm-warn", nil)
		_, stderr, err := framework.Kubectl(t, c, []byte(framework.StatefulSetYAML("web", "web", "")), "apply", "-n", warned, "-f", "-")
		if err != nil || !strings.Contains(stderr, "Warning: HG002") {
			t.Errorf("mode=warn: want the StatefulSet admitted with an HG002 warning: %v\n%s", err, stderr)
		}
		if logs := g.Logs(); regexp.MustCompile(`(?i)forbidden`).MatchString(logs) {
			t.Errorf("the guard was refused something under the chart's RBAC:\n%s", framework.GrepLines(logs, "orbidden"))
		}
	})

	// docs/deploy.md "Break glass": with every replica down, what fails
	// closed is blocked; deleting the validating configuration unblocks
	// it; helm upgrade puts it back, and the guard serves it again.
	t.Run("break glass", func(t *testing.T) {
		if err := g.Stop(); err != nil {
			t.Fatal(err)
		}
		down := framework.Namespace(t, c, "helm-down", nil)
		for what, doc := range map[string]string{"StatefulSet create": framework.StatefulSetYAML("web", "web", ""), "Service create": framework.ServiceYAML("web", "")} {
			if _, stderr, err := framework.Kubectl(t, c, []byte(doc), "apply", "-n", down, "-f", "-"); err == nil || !strings.Contains(stderr, "failed calling webhook") {
				t.Errorf("%s with the guard down: %v %s; want it refused (failurePolicy Fail)", what, err, stderr)
			}
		}
		// Scaling goes through the scale subresource, which no webhook intercepts.
		framework.MustKubectl(t, c, nil, "scale", "statefulset", "web", "-n", injected, "--replicas=1")
		// Either command of the procedure unblocks; helm upgrade undoes either.
		framework.MustKubectl(t, c, nil, "patch", "validatingwebhookconfiguration", "headless-guard", "--type=json", "-p", breakGlassPatch)
		framework.MustKubectl(t, c, []byte(framework.ServiceYAML("web", "")), "apply", "-n", down, "-f", "-")
		if h.major == 4 {
			// Helm 4 applies server-side: the patched fields are kubectl's
			// now, and only --force-conflicts takes them back.
			if _, stderr, err := h.run(t, kc, "upgrade", releaseName, chartDir, "--namespace", ns, "--reuse-values"); err == nil || !strings.Contains(stderr, "conflict") {
				t.Errorf("helm upgrade over the patch: %v %s; docs/deploy.md says it conflicts", err, stderr)
			}
			h.must(t, kc, "upgrade", releaseName, chartDir, "--namespace", ns, "--reuse-values", "--force-conflicts")
		} else {
			// Helm 3's three-way merge sets what differs from the chart back.
			h.must(t, kc, "upgrade", releaseName, chartDir, "--namespace", ns, "--reuse-values")
		}
		if _, stderr, err := framework.Kubectl(t, c, []byte(framework.StatefulSetYAML("web", "web", "")), "apply", "-n", down, "-f", "-"); err == nil || !strings.Contains(stderr, "failed calling webhook") {
			t.Errorf("after helm upgrade, failurePolicy Fail is not back: %v %s", err, stderr)
		}
		framework.MustKubectl(t, c, nil, "delete", "validatingwebhookconfiguration", "headless-guard")
		framework.MustKubectl(t, c, []byte(framework.StatefulSetYAML("web", "web", "")), "apply", "-n", down, "-f", "-")
		h.must(t, kc, "upgrade", releaseName, chartDir, "--namespace", ns, "--reuse-values")
		vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
		if err := c.Client().Get(ctx, client.ObjectKey{Name: certs.DefaultWebhookConfigName}, vwc); err != nil || *vwc.Webhooks[0].FailurePolicy != admissionregistrationv1.Fail {
			t.Fatalf("helm upgrade did not restore the validating configuration: %v", err)
		}
		// Ready only once the API server reaches it through the restored
		// configuration (the guard puts its caBundle back at start).
		if err := g.Restart(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("uninstall", func(t *testing.T) {
		if err := g.Stop(); err != nil {
			t.Fatal(err)
		}
		h.must(t, kc, "uninstall", releaseName, "--namespace", ns, "--wait")
		gone := map[string]client.Object{
			"ValidatingWebhookConfiguration": &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1ObjectMeta("", certs.DefaultWebhookConfigName)},
			"MutatingWebhookConfiguration":   &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1ObjectMeta("", certs.DefaultWebhookConfigName)},
			"Lease":                          &coordinationv1.Lease{ObjectMeta: metav1ObjectMeta(ns, "headless-guard.io")},
			"ServiceAccount":                 &corev1.ServiceAccount{ObjectMeta: metav1ObjectMeta(ns, "headless-guard")},
		}
		for kind, obj := range gone {
			if err := c.Client().Get(ctx, client.ObjectKeyFromObject(obj), obj); !apierrors.IsNotFound(err) {
				t.Errorf("%s %s after uninstall: %v, want NotFound", kind, obj.GetName(), err)
			}
		}
		// The Secret self-managed mode writes its certificate into is the
		// release's (created without data), so it goes too: nothing is left.
		all := &corev1.SecretList{}
		if err := c.Client().List(ctx, all, client.InNamespace(ns)); err != nil || len(all.Items) != 0 {
			t.Errorf("Secrets left in %s after uninstall: %v %v", ns, err, all.Items)
		}
		// An injected Service belongs to its StatefulSet alone: the garbage
		// collector deletes it with it, headless-guard or not.
		svc := &corev1.Service{}
		if err := c.Client().Get(ctx, client.ObjectKey{Namespace: injected, Name: "web"}, svc); err != nil {
			t.Fatal(err)
		}
		if len(svc.OwnerReferences) != 1 || svc.OwnerReferences[0].Kind != "StatefulSet" || svc.OwnerReferences[0].Name != "web" || len(svc.Finalizers) != 0 {
			t.Errorf("the injected Service: owners %v, finalizers %v; want its StatefulSet only", svc.OwnerReferences, svc.Finalizers)
		}
		if out := h.must(t, kc, "list", "-A", "-q"); strings.TrimSpace(out) != "" {
			t.Errorf("releases left: %s", out)
		}
		// Writes are no longer checked, and nothing waits for a guard.
		free := framework.Namespace(t, c, "helm-after", nil)
		for _, doc := range []string{framework.StatefulSetYAML("web", "web", ""), strings.Replace(framework.ServiceYAML("other", ""), "  clusterIP: None\n", "", 1)} {
			if out, stderr, err := framework.Kubectl(t, c, []byte(doc), "apply", "-n", free, "-f", "-"); err != nil || strings.Contains(stderr, "Warning") {
				t.Errorf("after uninstall: %v\n%s%s", err, out, stderr)
			}
		}
		framework.MustKubectl(t, c, nil, "label", "service", "other", "-n", free, "x=y")
		framework.MustKubectl(t, c, nil, "delete", "service", "other", "-n", free)
	})
}

// breakGlassPatch is docs/deploy.md's patch: the two webhooks that fail
// closed fail open.
const breakGlassPatch = `[
  {"op": "replace", "path": "/webhooks/0/failurePolicy", "value": "Ignore"},
  {"op": "replace", "path": "/webhooks/1/failurePolicy", "value": "Ignore"}]`

func metav1ObjectMeta(ns, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: ns, Name: name}
}

// webhookCABundles are the caBundles of every webhook of both
// configurations.
func webhookCABundles(t *testing.T, c *cluster.Cluster) []string {
	t.Helper()
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{}
	for _, obj := range []client.Object{vwc, mwc} {
		if err := c.Client().Get(t.Context(), client.ObjectKey{Name: certs.DefaultWebhookConfigName}, obj); err != nil {
			t.Fatal(err)
		}
	}
	var out []string
	for _, w := range vwc.Webhooks {
		out = append(out, string(w.ClientConfig.CABundle))
	}
	for _, w := range mwc.Webhooks {
		out = append(out, string(w.ClientConfig.CABundle))
	}
	return out
}
