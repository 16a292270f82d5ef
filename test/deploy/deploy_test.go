package deploy

import (
	"bytes"
	"context"
	"crypto/tls"
	"debug/elf"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/headless-guard/headless-guard/certs"
	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/test/cluster"
	"github.com/headless-guard/headless-guard/test/framework"
)

var overlays = []string{"cert-manager", "self-signed"}

// decode finds the one object of a kind (and name, if not "") and decodes it.
func decode[T any](t *testing.T, docs []framework.ManifestDoc, kind, name string) *T {
	t.Helper()
	var found []framework.ManifestDoc
	for _, d := range docs {
		if d.GVK.Kind == kind && (name == "" || d.Name == name) {
			found = append(found, d)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one %s %q in the render, found %d", kind, name, len(found))
	}
	out := new(T)
	if err := yaml.UnmarshalStrict(found[0].Raw, out); err != nil {
		t.Fatalf("%s %s: %v", kind, found[0].Name, err)
	}
	return out
}

// installCertManagerCRDs applies the CRDs shipped in the cert-manager
// module this repository requires.
func installCertManagerCRDs(t *testing.T, c *cluster.Cluster) {
	t.Helper()
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/cert-manager/cert-manager")
	cmd.Dir = c.Root()
	dir, err := cmd.Output()
	if err != nil {
		t.Fatalf("locating the cert-manager module: %v", err)
	}
	crds := filepath.Join(strings.TrimSpace(string(dir)), "deploy", "crds")
	framework.MustKubectl(t, c, nil, "apply", "--server-side", "-f", crds)
	framework.WaitEstablished(t, c, "crd/certificates.cert-manager.io", "crd/issuers.cert-manager.io")
}

// TestDeploy renders both overlays with the real kubectl, checks what
// DESIGN.md asks of them, applies them with a server-side dry run, and then
// runs headless-guard under the ServiceAccount and RBAC of the self-signed
// overlay: it works, and what it must not do is refused.
func TestDeploy(t *testing.T) {
	// The admission plugin that holds blockOwnerDeletion to the owner's
	// finalizers, as on clusters that enable it: the injected Service's
	// ownerReference must pass it under the deploy RBAC.
	c := framework.OwnClusterWith(t, cluster.Options{APIServerFlags: map[string]string{"enable-admission-plugins": "OwnerReferencesPermissionEnforcement"}})
	installCertManagerCRDs(t, c)
	rendered := map[string][]framework.ManifestDoc{}
	for _, o := range overlays {
		rendered[o] = framework.Render(t, c, o)
	}

	for _, o := range overlays {
		t.Run("render/"+o, func(t *testing.T) { checkRender(t, o, rendered[o]) })
	}

	t.Run("dry-run", func(t *testing.T) {
		// The namespace exists for real, with its Pod Security label, so
		// that the dry run of what goes in it is checked against both.
		ns := framework.Join(rendered["self-signed"], func(d framework.ManifestDoc) bool { return d.GVK.Kind == "Namespace" })
		framework.MustKubectl(t, c, ns, "apply", "-f", "-")
		// A control: the same dry run does warn about a pod template the
		// restricted level forbids.
		bad := strings.Replace(framework.StatefulSetYAML("privileged", "x", ""), "      - name: nginx\n", "      - name: nginx\n        securityContext:\n          privileged: true\n", 1)
		if _, stderr, _ := framework.Kubectl(t, c, []byte(bad), "apply", "--dry-run=server", "-n", framework.GuardNamespace, "-f", "-"); !strings.Contains(stderr, "would violate PodSecurity") {
			t.Fatalf("Pod Security admission does not warn about a privileged container; the check below would prove nothing:\n%s", stderr)
		}
		// As on a cluster where headless-guard is not installed yet: without
		// the configurations envtest registered (put back afterwards).
		withoutWebhookConfigurations(t, c)
		for _, o := range overlays {
			t.Run(o, func(t *testing.T) {
				out, stderr, err := framework.Kubectl(t, c, framework.Join(rendered[o], func(framework.ManifestDoc) bool { return true }), "apply", "--dry-run=server", "-f", "-")
				if err != nil {
					t.Fatalf("kubectl apply --dry-run=server: %v\n%s", err, stderr)
				}
				if strings.Contains(stderr, "Warning") {
					t.Errorf("warnings from the API server:\n%s", stderr)
				}
				if n := strings.Count(out, "(server dry run)"); n != len(rendered[o]) {
					t.Errorf("%d objects dry-run, want %d:\n%s", n, len(rendered[o]), out)
				}
			})
		}
	})

	t.Run("identity", func(t *testing.T) { checkIdentity(t, c, rendered["self-signed"]) })
}

// withoutWebhookConfigurations deletes the webhook configurations envtest
// registered until the end of the (sub)test, which re-creates them.
func withoutWebhookConfigurations(t *testing.T, c *cluster.Cluster) {
	t.Helper()
	ctx := context.Background()
	for _, obj := range []client.Object{&admissionregistrationv1.ValidatingWebhookConfiguration{}, &admissionregistrationv1.MutatingWebhookConfiguration{}} {
		if err := c.Client().Get(ctx, client.ObjectKey{Name: certs.DefaultWebhookConfigName}, obj); err != nil {
			t.Fatal(err)
		}
		if err := c.Client().Delete(ctx, obj); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			obj.SetResourceVersion("")
			obj.SetUID("")
			if err := c.Client().Create(ctx, obj); err != nil {
				t.Errorf("restoring %s: %v", obj.GetName(), err)
			}
		})
	}
}

// checkRender checks the rendered overlay against DESIGN.md's Deploy section.
func checkRender(t *testing.T, overlay string, docs []framework.ManifestDoc) {
	dep := decode[appsv1.Deployment](t, docs, "Deployment", "headless-guard")
	ns := dep.Namespace
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	ctr := pod.Containers[0]
	yes := func(b *bool) bool { return b != nil && *b }
	checks := []struct {
		what string
		ok   bool
	}{
		{"2+ replicas", dep.Spec.Replicas != nil && *dep.Spec.Replicas >= 2},
		{"replicas spread over nodes, never two on one (DoNotSchedule by hostname, or required anti-affinity)", slices.ContainsFunc(pod.TopologySpreadConstraints, func(c corev1.TopologySpreadConstraint) bool {
			return c.TopologyKey == corev1.LabelHostname && c.WhenUnsatisfiable == corev1.DoNotSchedule && c.MaxSkew == 1
		}) || pod.Affinity != nil && pod.Affinity.PodAntiAffinity != nil && slices.ContainsFunc(pod.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, func(c corev1.PodAffinityTerm) bool {
			return c.TopologyKey == corev1.LabelHostname
		})},
		{"priorityClassName of a PriorityClass in the render", pod.PriorityClassName != "" && decode[schedulingv1.PriorityClass](t, docs, "PriorityClass", pod.PriorityClassName) != nil},
		{"runs as non-root", pod.SecurityContext != nil && yes(pod.SecurityContext.RunAsNonRoot) && ctr.SecurityContext != nil && yes(ctr.SecurityContext.RunAsNonRoot)},
		{"seccomp RuntimeDefault", pod.SecurityContext != nil && pod.SecurityContext.SeccompProfile != nil && pod.SecurityContext.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault},
		{"read-only root filesystem", yes(ctr.SecurityContext.ReadOnlyRootFilesystem)},
		{"no privilege escalation", ctr.SecurityContext.AllowPrivilegeEscalation != nil && !*ctr.SecurityContext.AllowPrivilegeEscalation},
		{"all capabilities dropped", ctr.SecurityContext.Capabilities != nil && slices.Equal(ctr.SecurityContext.Capabilities.Drop, []corev1.Capability{"ALL"}) && len(ctr.SecurityContext.Capabilities.Add) == 0},
		{"readiness probe on /readyz", ctr.ReadinessProbe != nil && ctr.ReadinessProbe.HTTPGet != nil && ctr.ReadinessProbe.HTTPGet.Path == "/readyz"},
		{"liveness probe on /healthz", ctr.LivenessProbe != nil && ctr.LivenessProbe.HTTPGet != nil && ctr.LivenessProbe.HTTPGet.Path == "/healthz"},
		{"CPU and memory requests", !ctr.Resources.Requests.Cpu().IsZero() && !ctr.Resources.Requests.Memory().IsZero()},
		{"its own ServiceAccount", pod.ServiceAccountName == "headless-guard" && decode[corev1.ServiceAccount](t, docs, "ServiceAccount", "headless-guard") != nil},
	}
	// Every flag of the Deployment is one the binary has.
	help, err := exec.Command(framework.Binary, "serve", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("serve --help: %v\n%s", err, help)
	}
	known := map[string]bool{}
	for _, m := range regexp.MustCompile(`--([a-z0-9-]+)`).FindAllStringSubmatch(string(help), -1) {
		known[m[1]] = true
	}
	if len(ctr.Args) == 0 || ctr.Args[0] != "serve" {
		t.Errorf("args %v: want serve first", ctr.Args)
	}
	for _, a := range ctr.Args[1:] {
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") || !known[name] {
			t.Errorf("argument %q: not a flag of headless-guard serve", a)
		}
	}
	pdb := decode[policyv1.PodDisruptionBudget](t, docs, "PodDisruptionBudget", "")
	checks = append(checks, struct {
		what string
		ok   bool
	}{"a PodDisruptionBudget keeping one replica", pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.IntValue() >= 1 &&
		metav1.FormatLabelSelector(pdb.Spec.Selector) == metav1.FormatLabelSelector(dep.Spec.Selector)})
	for _, c := range checks {
		if !c.ok {
			t.Errorf("Deployment: want %s", c.what)
		}
	}

	// Both webhook configurations: the shape DESIGN.md gives them, and the
	// Service of the render.
	svc := decode[corev1.Service](t, docs, "Service", certs.DefaultServiceName)
	vwc := decode[admissionregistrationv1.ValidatingWebhookConfiguration](t, docs, "ValidatingWebhookConfiguration", certs.DefaultWebhookConfigName)
	mwc := decode[admissionregistrationv1.MutatingWebhookConfiguration](t, docs, "MutatingWebhookConfiguration", certs.DefaultWebhookConfigName)
	type hook struct {
		name       string
		cc         admissionregistrationv1.WebhookClientConfig
		versions   []string
		side       *admissionregistrationv1.SideEffectClass
		policy     *admissionregistrationv1.FailurePolicyType
		timeout    *int32
		nsSelector *metav1.LabelSelector
		wantPolicy admissionregistrationv1.FailurePolicyType
	}
	// Only a webhook whose rules can deny fails closed: an outage must not
	// block what headless-guard would only have warned about (Service
	// DELETE: HG010; pod templates with a subdomain: HG012).
	failClosed := map[string]bool{"statefulsets.validate.headless-guard.io": true, "services.validate.headless-guard.io": true}
	var hooks []hook
	for _, w := range vwc.Webhooks {
		policy := admissionregistrationv1.Ignore
		if failClosed[w.Name] {
			policy = admissionregistrationv1.Fail
		}
		hooks = append(hooks, hook{w.Name, w.ClientConfig, w.AdmissionReviewVersions, w.SideEffects, w.FailurePolicy, w.TimeoutSeconds, w.NamespaceSelector, policy})
		if w.Name == "services.validate.headless-guard.io" && slices.ContainsFunc(w.Rules, func(r admissionregistrationv1.RuleWithOperations) bool {
			return slices.Contains(r.Operations, admissionregistrationv1.Delete)
		}) {
			t.Errorf("%s fails closed and must not intercept DELETE, which only warns", w.Name)
		}
	}
	if len(vwc.Webhooks) != 4 {
		t.Errorf("%d validating webhooks, want 4 (statefulsets, services, services-delete, workloads)", len(vwc.Webhooks))
	}
	for _, w := range mwc.Webhooks {
		hooks = append(hooks, hook{w.Name, w.ClientConfig, w.AdmissionReviewVersions, w.SideEffects, w.FailurePolicy, w.TimeoutSeconds, w.NamespaceSelector, admissionregistrationv1.Ignore})
	}
	for _, h := range hooks {
		if !slices.Equal(h.versions, []string{"v1"}) {
			t.Errorf("%s: admissionReviewVersions %v, want [v1]", h.name, h.versions)
		}
		if h.side == nil || *h.side != admissionregistrationv1.SideEffectClassNone {
			t.Errorf("%s: sideEffects must be None: admission creates and deletes nothing", h.name)
		}
		if h.policy == nil || *h.policy != h.wantPolicy {
			t.Errorf("%s: failurePolicy %v, want %s", h.name, h.policy, h.wantPolicy)
		}
		if h.timeout == nil || *h.timeout > 10 {
			t.Errorf("%s: timeoutSeconds must be short", h.name)
		}
		if s := h.cc.Service; s == nil || s.Name != svc.Name || s.Namespace != ns || s.Path == nil {
			t.Errorf("%s: clientConfig must name Service %s/%s", h.name, ns, svc.Name)
		}
		excluded := map[string]bool{}
		if h.nsSelector != nil {
			for _, e := range h.nsSelector.MatchExpressions {
				if e.Key == corev1.LabelMetadataName && e.Operator == metav1.LabelSelectorOpNotIn {
					for _, v := range e.Values {
						excluded[v] = true
					}
				}
			}
		}
		if !excluded["kube-system"] || !excluded[ns] {
			t.Errorf("%s: namespaceSelector must exclude kube-system and %s, excludes %v", h.name, ns, excluded)
		}
		if overlay == "cert-manager" && !excluded["cert-manager"] {
			t.Errorf("%s: the cert-manager overlay depends on cert-manager's webhook and must exclude its namespace, excludes %v", h.name, excluded)
		}
	}

	switch overlay {
	case "cert-manager":
		serving := decode[cmapi.Certificate](t, docs, "Certificate", certs.ServingCertificateName)
		want := ns + "/" + serving.Name
		for _, ann := range []map[string]string{vwc.Annotations, mwc.Annotations} {
			if ann["cert-manager.io/inject-ca-from"] != want {
				t.Errorf("cert-manager.io/inject-ca-from = %q, want %q", ann["cert-manager.io/inject-ca-from"], want)
			}
		}
		if !slices.Contains(serving.Spec.DNSNames, svc.Name+"."+ns+".svc") {
			t.Errorf("the serving Certificate's dnsNames %v lack %s.%s.svc", serving.Spec.DNSNames, svc.Name, ns)
		}
		var mounted string
		for _, v := range pod.Volumes {
			if v.Secret != nil && v.EmptyDir == nil {
				mounted = v.Secret.SecretName
			}
		}
		if mounted != serving.Spec.SecretName {
			t.Errorf("the Deployment mounts Secret %q, the Certificate writes %q", mounted, serving.Spec.SecretName)
		}
		if slices.Contains(ctr.Args, "--cert-mode=self-managed") {
			t.Errorf("the cert-manager overlay must not run in self-managed mode")
		}
	case "self-signed":
		if !slices.Contains(ctr.Args, "--cert-mode=self-managed") {
			t.Errorf("args %v: want --cert-mode=self-managed", ctr.Args)
		}
		for _, d := range docs {
			if d.GVK.Group == cmapi.SchemeGroupVersion.Group {
				t.Errorf("the self-signed overlay has cert-manager's %s %s", d.GVK.Kind, d.Name)
			}
		}
	}
	// No wildcard anywhere, and Secrets only by name (or create).
	for _, d := range docs {
		var rules []rbacv1.PolicyRule
		switch d.GVK.Kind {
		case "ClusterRole":
			rules = decode[rbacv1.ClusterRole](t, docs, d.GVK.Kind, d.Name).Rules
		case "Role":
			rules = decode[rbacv1.Role](t, docs, d.GVK.Kind, d.Name).Rules
		}
		for _, r := range rules {
			if slices.Contains(r.Verbs, "*") || slices.Contains(r.Resources, "*") || slices.Contains(r.APIGroups, "*") {
				t.Errorf("%s %s: wildcard in %v", d.GVK.Kind, d.Name, r)
			}
			if slices.Contains(r.Resources, "secrets") && len(r.ResourceNames) == 0 && !slices.Equal(r.Verbs, []string{"create"}) {
				t.Errorf("%s %s: Secrets beyond its own: %v", d.GVK.Kind, d.Name, r)
			}
		}
	}
}

// checkIdentity runs the guard as the self-signed overlay's ServiceAccount
// with exactly that overlay's RBAC.
func checkIdentity(t *testing.T, c *cluster.Cluster, docs []framework.ManifestDoc) {
	ctx := t.Context()
	isCertRole := func(d framework.ManifestDoc) bool {
		return (d.GVK.Kind == "Role" || d.GVK.Kind == "RoleBinding") && d.Name == "headless-guard-certs"
	}
	// The webhook configurations stay as envtest registered them (pointing
	// at 127.0.0.1); everything else is applied for real, first without
	// the self-managed Secret's Role.
	framework.MustKubectl(t, c, framework.Join(docs, func(d framework.ManifestDoc) bool { return !framework.IsWebhookConfiguration(d) && !isCertRole(d) }), "apply", "-f", "-")
	kubeconfig, sa, saToken := framework.SaKubeconfig(t, c, framework.GuardNamespace, "headless-guard")

	// Without it: up, but not ready, and the reason in the log.
	r := framework.StartReplica(t, c, "without-secret-role", framework.SelfManagedArgs(t, "--kubeconfig", kubeconfig)...)
	framework.Eventually(t, 30*time.Second, "the Secret refused", func() (bool, string) {
		logs := r.Logs()
		return strings.Contains(logs, "reading Secret "+framework.GuardNamespace+"/"+certs.DefaultSecretName) && strings.Contains(logs, "is forbidden"), logs
	})
	if code, body := framework.Readyz(r.Health); code != http.StatusServiceUnavailable && code != http.StatusInternalServerError || !strings.Contains(body, "certificate") {
		t.Fatalf("/readyz without a certificate: %d\n%s", code, body)
	}
	// With it: ready without a restart.
	framework.MustKubectl(t, c, framework.Join(docs, isCertRole), "apply", "-f", "-")
	r.WaitReady(t)
	// Without --leader-elect its audit would race the guard's below.
	r.Stop()

	args := framework.SelfManagedArgs(t, "--kubeconfig", kubeconfig, "--leader-elect", "--leader-election-namespace", framework.GuardNamespace,
		"--metrics-secure=true", framework.TestAuditGrace)
	g := framework.StartGuard(t, c, args...)

	t.Run("works", func(t *testing.T) {
		// Denies through the informer cache (a StatefulSet alone is denied
		// in the strict policy only).
		ns := framework.Namespace(t, c, "identity", map[string]string{rules.PolicyLabel: string(rules.LevelStrict)})
		if _, stderr, err := framework.Kubectl(t, c, []byte(framework.StatefulSetYAML("web", "web", "")), "apply", "-n", ns, "-f", "-"); err == nil || !strings.Contains(stderr, "HG002") {
			t.Errorf("want an HG002 denial: %v\n%s", err, stderr)
		}
		// Injects a Service owned by its StatefulSet (create, with
		// blockOwnerDeletion under OwnerReferencesPermissionEnforcement).
		// The label needs the chart's injectNamespaces too: RBAC cannot
		// follow a label.
		inj := framework.Namespace(t, c, "identity-inject", map[string]string{rules.InjectLabel: "true"})
		rbac := mustHelm(t, "", "template", releaseName, chartDir, "--namespace", framework.GuardNamespace, "--show-only", "templates/rbac.yaml", "--set", "injectNamespaces={"+inj+"}")
		framework.MustKubectl(t, c, framework.Join(parseDocs(t, rbac), func(d framework.ManifestDoc) bool { return d.Name == "headless-guard-inject" }), "apply", "-f", "-")
		framework.MustKubectl(t, c, []byte(framework.StatefulSetYAML("web", "", "")), "apply", "-n", inj, "-f", "-")
		framework.Eventually(t, 30*time.Second, "the injected Service, owned", func() (bool, string) {
			owner, _ := framework.GetJSONPath(t, c, "{.metadata.ownerReferences[0].name}/{.metadata.ownerReferences[0].blockOwnerDeletion}", "service", "web", "-n", inj)
			return owner == "web/true", owner
		})
		// Audits: records an Event, and deletes it once fixed.
		aud := framework.Namespace(t, c, "identity-audit", map[string]string{rules.ModeLabel: "warn"})
		framework.MustKubectl(t, c, []byte(framework.StatefulSetYAML("web", "web", "")), "apply", "-n", aud, "-f", "-")
		framework.Eventually(t, 30*time.Second, "an audit Event", func() (bool, string) {
			got := framework.MustKubectl(t, c, nil, "get", "events", "-n", aud, "--field-selector", "reason=HeadlessGuardViolation", "-o", "name")
			return got != "", got
		})
		framework.MustKubectl(t, c, []byte(framework.ServiceYAML("web", "")), "apply", "-n", aud, "-f", "-")
		framework.Eventually(t, 30*time.Second, "the audit Event deleted", func() (bool, string) {
			got := framework.MustKubectl(t, c, nil, "get", "events", "-n", aud, "--field-selector", "reason=HeadlessGuardViolation", "-o", "name")
			return got == "", got
		})
		// Holds the leader lease in its namespace.
		lease := &coordinationv1.Lease{}
		if err := c.Client().Get(ctx, client.ObjectKey{Namespace: framework.GuardNamespace, Name: "headless-guard.io"}, lease); err != nil || lease.Spec.HolderIdentity == nil {
			t.Errorf("leader lease: %v", err)
		}
		// Keeps its Secret and the caBundle.
		bundle, err := framework.RegisteredCABundle(ctx, c.Client())
		if err != nil || !bytes.Equal(bundle, framework.SecretData(t, c)[certs.KeyCABundle]) {
			t.Errorf("caBundle is not the Secret's ca.crt (%v)", err)
		}
		// Serves metrics to a scraper allowed by headless-guard-metrics-reader
		// (TokenReview and SubjectAccessReview as itself), not to others.
		scraper := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "scraper"}}
		if err := c.Client().Create(ctx, scraper); err != nil {
			t.Fatal(err)
		}
		binding := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "scraper-metrics"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "headless-guard-metrics-reader"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: "default", Name: "scraper"}},
		}
		if err := c.Client().Create(ctx, binding); err != nil {
			t.Fatal(err)
		}
		_, _, scraperToken := framework.SaKubeconfig(t, c, "default", "scraper")
		metricsURL := strings.Replace(g.MetricsURL(), "http://", "https://", 1)
		framework.Eventually(t, 30*time.Second, "metrics for the scraper", func() (bool, string) {
			code, body := getWithToken(metricsURL, scraperToken)
			return code == http.StatusOK && strings.Contains(body, "headless_guard_certificate_expiry_timestamp_seconds"), fmt.Sprint(code)
		})
		if code, _ := getWithToken(metricsURL, saToken); code != http.StatusForbidden {
			t.Errorf("metrics for a token without the metrics-reader role: %d, want 403", code)
		}
		if logs := g.Logs(); regexp.MustCompile(`(?i)forbidden`).MatchString(logs) {
			t.Errorf("the guard was refused something under its own RBAC:\n%s", framework.GrepLines(logs, "orbidden"))
		}
	})

	t.Run("refused", func(t *testing.T) {
		other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: framework.GuardNamespace, Name: "someone-elses"}, StringData: map[string]string{"k": "v"}}
		if err := c.Client().Create(ctx, other); err != nil {
			t.Fatal(err)
		}
		svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "someone-elses"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "web", Port: 80}}}}
		if err := c.Client().Create(ctx, svc); err != nil {
			t.Fatal(err)
		}
		vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "someone-elses"}}
		if err := c.Client().Create(ctx, vwc); err != nil {
			t.Fatal(err)
		}
		cases := map[string]func() error{
			"read a Secret in kube-system": func() error {
				return sa.Get(ctx, client.ObjectKey{Namespace: "kube-system", Name: "anything"}, &corev1.Secret{})
			},
			"read another Secret in its namespace": func() error {
				return sa.Get(ctx, client.ObjectKeyFromObject(other), &corev1.Secret{})
			},
			"update another Secret in its namespace": func() error {
				s := other.DeepCopy()
				s.StringData = map[string]string{"k": "mine"}
				return sa.Update(ctx, s)
			},
			"list Secrets in its namespace": func() error {
				return sa.List(ctx, &corev1.SecretList{}, client.InNamespace(framework.GuardNamespace))
			},
			"delete a StatefulSet": func() error {
				return sa.Delete(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "web"}})
			},
			"update a Service (it only patches)": func() error {
				s := svc.DeepCopy()
				s.Labels = map[string]string{"x": "y"}
				return sa.Update(ctx, s)
			},
			"read another webhook configuration": func() error {
				return sa.Get(ctx, client.ObjectKeyFromObject(vwc), &admissionregistrationv1.ValidatingWebhookConfiguration{})
			},
			"patch another webhook configuration": func() error {
				return sa.Patch(ctx, vwc.DeepCopy(), client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"labels":{"x":"y"}}}`)))
			},
			"grant itself a role": func() error {
				b := &rbacv1.ClusterRoleBinding{
					ObjectMeta: metav1.ObjectMeta{Name: "escalate"},
					RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
					Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Namespace: framework.GuardNamespace, Name: "headless-guard"}},
				}
				return sa.Create(ctx, b)
			},
			"write a lease elsewhere": func() error {
				return sa.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "x"}})
			},
		}
		for name, try := range cases {
			if err := try(); !apierrors.IsForbidden(err) {
				t.Errorf("%s: %v, want Forbidden", name, err)
			}
		}
	})
}

func getWithToken(url, token string) (int, string) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// dockerStage is one stage of a Dockerfile: its FROM, ARG defaults and
// instructions with continuation lines joined.
type dockerStage struct {
	from, name string
	args       map[string]string
	steps      []string
}

func parseDockerfile(t *testing.T, path string) []*dockerStage {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stages []*dockerStage
	var logical []string
	var cur strings.Builder
	for _, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		logical = append(logical, cur.String())
		cur.Reset()
	}
	for _, l := range logical {
		f := strings.Fields(l)
		switch strings.ToUpper(f[0]) {
		case "FROM":
			s := &dockerStage{args: map[string]string{}}
			for i := 1; i < len(f); i++ {
				switch {
				case strings.HasPrefix(f[i], "--"):
				case strings.EqualFold(f[i], "AS") && i+1 < len(f):
					s.name = f[i+1]
					i++
				default:
					s.from = f[i]
				}
			}
			stages = append(stages, s)
		case "ARG":
			if len(stages) > 0 {
				k, v, _ := strings.Cut(f[1], "=")
				stages[len(stages)-1].args[k] = v
			}
		default:
			if len(stages) > 0 {
				stages[len(stages)-1].steps = append(stages[len(stages)-1].steps, l)
			}
		}
	}
	return stages
}

// TestDockerfile runs the `go build` of the Dockerfile's build stage, as
// the Docker engine would run it (its ARGs, the output moved to a temporary
// directory), and checks that the binary is static and version-stamped, and
// that the runtime stage is distroless nonroot.
func TestDockerfile(t *testing.T) {
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	stages := parseDockerfile(t, filepath.Join(root, "Dockerfile"))
	if len(stages) != 2 {
		t.Fatalf("%d stages, want a build stage and a runtime stage", len(stages))
	}
	build, final := stages[0], stages[1]
	if final.from != "gcr.io/distroless/static:nonroot" || !slices.Contains(final.steps, "USER 65532:65532") {
		t.Errorf("runtime stage: FROM %s, steps %q; want gcr.io/distroless/static:nonroot and USER 65532:65532", final.from, final.steps)
	}
	var goBuild string
	for _, s := range build.steps {
		if strings.HasPrefix(s, "RUN ") && strings.Contains(s, "go build") {
			goBuild = s
		}
	}
	if goBuild == "" {
		t.Fatalf("no RUN go build in the build stage: %q", build.steps)
	}
	// RUN [--mount=...]... command
	fields := strings.Fields(strings.TrimPrefix(goBuild, "RUN "))
	for len(fields) > 0 && strings.HasPrefix(fields[0], "--") {
		fields = fields[1:]
	}
	script := strings.Join(fields, " ")
	if !strings.Contains(script, "CGO_ENABLED=0") {
		t.Errorf("the build does not set CGO_ENABLED=0: %s", script)
	}
	out := t.TempDir()
	script = strings.ReplaceAll(script, "/out/", out+"/")
	env := append(os.Environ(), "TARGETOS="+runtime.GOOS, "TARGETARCH="+runtime.GOARCH, "VERSION=v9.9.9-dockerfile", "COMMIT=c0ffee0")
	for k, v := range build.args {
		if k != "TARGETOS" && k != "TARGETARCH" && k != "VERSION" && k != "COMMIT" {
			env = append(env, k+"="+v)
		}
	}
	cmd := exec.Command("sh", "-c", script)
	cmd.Dir, cmd.Env = root, env
	if outp, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the build stage's command failed: %v\n%s\n%s", err, script, outp)
	}
	bin := filepath.Join(out, "headless-guard")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary has a program interpreter: it is dynamically linked")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
	version, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || !strings.Contains(string(version), "v9.9.9-dockerfile (c0ffee0)") {
		t.Errorf("version not stamped: %v %s", err, version)
	}
	// The image itself, where a Docker engine runs.
	if exec.Command("docker", "info").Run() == nil {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if outp, err := exec.CommandContext(dctx, "docker", "build", "-t", "headless-guard:test", root).CombinedOutput(); err != nil {
			t.Errorf("docker build: %v\n%s", err, outp)
		}
	}
}
