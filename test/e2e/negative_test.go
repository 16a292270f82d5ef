package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/rules"
)

// disableGuard takes headless-guard out of the cluster the way
// uninstalling it would: it deletes its webhook configurations (label
// app.kubernetes.io/name=headless-guard), so that the API server admits
// everything as a cluster without headless-guard does. (Stopping the
// guard would not do: failurePolicy Fail would then block every
// StatefulSet write; `--mode=warn` still runs every rule.) The returned
// function, also run at cleanup, registers them again and waits until the
// API server calls the guard again.
func disableGuard(t *testing.T) (enable func()) {
	t.Helper()
	ctx := context.Background()
	c := cl.Client()
	selector := client.MatchingLabels{"app.kubernetes.io/name": "headless-guard"}
	var vs admissionv1.ValidatingWebhookConfigurationList
	var ms admissionv1.MutatingWebhookConfigurationList
	if err := c.List(ctx, &vs, selector); err != nil {
		t.Fatal(err)
	}
	if err := c.List(ctx, &ms, selector); err != nil {
		t.Fatal(err)
	}
	var configs []client.Object
	for i := range vs.Items {
		configs = append(configs, &vs.Items[i])
	}
	for i := range ms.Items {
		configs = append(configs, &ms.Items[i])
	}
	if len(vs.Items) == 0 {
		t.Fatalf("no ValidatingWebhookConfiguration with labels %v", selector)
	}
	for _, obj := range configs {
		if err := c.Delete(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	waitGuard(t, false)
	enabled := false
	enable = func() {
		if enabled {
			return
		}
		enabled = true
		for _, obj := range configs {
			obj.SetResourceVersion("")
			obj.SetUID("")
			obj.SetCreationTimestamp(metav1.Time{})
			obj.SetManagedFields(nil)
			if err := c.Create(ctx, obj); err != nil {
				t.Fatalf("registering %s again: %v", obj.GetName(), err)
			}
		}
		waitGuard(t, true)
	}
	t.Cleanup(enable)
	return enable
}

// probeStatefulSet names a Service that does not exist: a server-side dry
// run of it gets an HG002 warning exactly when the guard is called.
const probeStatefulSet = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: guard-probe
  namespace: default
spec:
  serviceName: guard-probe-missing
  selector: {matchLabels: {app: guard-probe}}
  template:
    metadata: {labels: {app: guard-probe}}
    spec: {containers: [{name: c, image: c}]}
`

// waitGuard waits until the API server calls the guard (on) or not (!on).
func waitGuard(t *testing.T, on bool) {
	t.Helper()
	eventually(t, "default", 30*time.Second, "headless-guard called: "+map[bool]string{true: "yes", false: "no"}[on], func() (bool, string) {
		_, errOut, err := kubectl(t, []byte(probeStatefulSet), "apply", "--dry-run=server", "-f", "-")
		if err != nil {
			return false, err.Error()
		}
		return strings.Contains(errOut, "HG002") == on, errOut
	})
}

// nonHeadless is seed 000 with the one line that makes its Service
// headless removed: the same StatefulSet pointed at a ClusterIP Service.
func nonHeadless(t *testing.T, ns string) []byte {
	data := seed(t, "seed-000-nginx-web.yaml", ns)
	var out bytes.Buffer
	for line := range strings.Lines(string(data)) {
		if !strings.HasPrefix(strings.TrimSpace(line), "clusterIP: None") {
			out.WriteString(line)
		}
	}
	if bytes.Equal(out.Bytes(), data) {
		t.Fatal("seed 000 has no `clusterIP: None` line")
	}
	return out.Bytes()
}

// wrongServiceName is seed 000 with the StatefulSet's `serviceName` naming
// a Service that does not exist (`nginx`, the Service's label, for
// `nginx-headless`).
func wrongServiceName(t *testing.T, ns string) []byte {
	data := seed(t, "seed-000-nginx-web.yaml", ns)
	out := bytes.Replace(data, []byte("serviceName: nginx-headless"), []byte("serviceName: nginx"), 1)
	if bytes.Equal(out, data) {
		t.Fatal("seed 000 has no `serviceName: nginx-headless` line")
	}
	return out
}

// TestMiswiredStatefulSet is seed 000's StatefulSet wired wrong in the two
// ways the rules exist for: its Service is not headless (HG003), or its
// serviceName names no Service (HG002). Without headless-guard both are
// admitted and the seed's DNS answers do not appear; with it the typo is
// denied in the default policy (and the ClusterIP Service in the strict
// one), and injection repairs the typo.
func TestMiswiredStatefulSet(t *testing.T) {
	setupExclusive(t)
	app := map[string]string{"app": "nginx"}
	notHeadless, missing := "unguarded-not-headless", "unguarded-missing-service"
	createNamespace(t, notHeadless, nil)
	createNamespace(t, missing, nil)
	enable := disableGuard(t)
	apply(t, notHeadless, nonHeadless(t, notHeadless))
	apply(t, missing, wrongServiceName(t, missing))
	enable()

	t.Run("not headless, guard disabled", func(t *testing.T) {
		ns := notHeadless
		pods := waitPods(t, ns, app, 3)
		// The seed's nslookup nginx-headless shows three pods; a ClusterIP
		// Service returns its one virtual IP, and its SRV record names
		// the Service, not the pods: clients cannot find their peers.
		resolves(t, ns, fqdn("nginx-headless", ns), []string{clusterIP(t, ns, "nginx-headless")})
		srvTargets(t, ns, "web", fqdn("nginx-headless", ns), []string{fqdn("nginx-headless", ns) + ":80"})
		// The Kubernetes DNS specification defines <hostname>.<service>
		// records for headless Services only, but CoreDNS answers them for
		// any Service whose EndpointSlice carries hostnames
		// (coredns/coredns#3686), and the EndpointSlice controller sets
		// them whenever the pod's subdomain is the Service's name. So here
		// the pod names do resolve: what breaks is the Service name.
		for i := range 3 {
			name := fmt.Sprintf("web-%d", i)
			resolves(t, ns, fqdn(name, "nginx-headless", ns), []string{ipOf(t, pods, name)})
		}
	})

	t.Run("missing Service, guard disabled", func(t *testing.T) {
		ns := missing
		pods := waitPods(t, ns, app, 3)
		// CoreDNS has the pods' EndpointSlice: the headless Service that
		// selects them returns them all, under dashed-IP names.
		resolves(t, ns, fqdn("nginx-headless", ns), podIPs(pods))
		for i := range 3 {
			name := fmt.Sprintf("web-%d", i)
			nxdomain(t, ns, fqdn(name, "nginx", ns))
			nxdomain(t, ns, fqdn(name, "nginx-headless", ns))
		}
	})

	// Nothing in seed 000's pod template uses the per-pod names, so the
	// default policy only warns about the ClusterIP Service (the audit
	// follows it up); the strict policy denies it.
	t.Run("not headless, guard enabled, strict policy", func(t *testing.T) {
		ns := "guarded-not-headless"
		createNamespace(t, ns, map[string]string{rules.PolicyLabel: string(rules.LevelStrict)})
		_, errOut, err := kubectl(t, nonHeadless(t, ns), "apply", "-n", ns, "-f", "-")
		if err == nil || !strings.Contains(errOut, "HG003") {
			t.Fatalf("err %v, want a denial by HG003:\n%s", err, errOut)
		}
		t.Logf("denied:\n%s", errOut)
		noStatefulSet(t, ns, "web")
	})

	t.Run("missing Service, guard enabled", func(t *testing.T) {
		ns := "guarded-missing-service"
		createNamespace(t, ns, nil)
		_, errOut, err := kubectl(t, wrongServiceName(t, ns), "apply", "-n", ns, "-f", "-")
		// kubectl creates the Service and at once the StatefulSet: the
		// guard's cache may not have the Service yet, and the guard then
		// reads the namespace's Services from the API server to find it
		// (lookup.liveListLimit), so the first answer is the denial.
		if err == nil || !strings.Contains(errOut, "HG002") || !strings.Contains(errOut, "set `spec.serviceName: nginx-headless`") {
			t.Fatalf("err %v, want a denial by HG002 that points at nginx-headless:\n%s", err, errOut)
		}
		t.Logf("denied:\n%s", errOut)
		noStatefulSet(t, ns, "web")

		// With injection on, the same manifests get the missing Service:
		// the reconciler creates it from the stored StatefulSet, and the
		// names answer once it has (statefulSetDNS waits for them).
		labelNamespace(t, ns, rules.InjectLabel, "true")
		if errOut := apply(t, ns, wrongServiceName(t, ns)); !strings.Contains(errOut, "will create headless Service "+ns+"/nginx") {
			t.Fatalf("no promise of an injected Service %s/nginx in the warnings:\n%s", ns, errOut)
		}
		pods := waitPods(t, ns, app, 3)
		statefulSetDNS(t, ns, "nginx", "web", pods, map[string]int{"web": 80})
	})

	t.Run("not headless, repaired", func(t *testing.T) {
		// clusterIP is immutable: the Service is deleted (HG010 warns) and
		// created again headless. The running pods get the seed's answers.
		ns := notHeadless
		out, errOut, err := kubectl(t, nil, "delete", "service", "nginx-headless", "-n", ns)
		if err != nil {
			t.Fatalf("%v\n%s%s", err, out, errOut)
		}
		apply(t, ns, seed(t, "seed-000-nginx-web.yaml", ns))
		statefulSetDNS(t, ns, "nginx-headless", "web", waitPods(t, ns, app, 3), map[string]int{"web": 80})
	})
}

// noStatefulSet fails t when StatefulSet ns/name exists.
func noStatefulSet(t *testing.T, ns, name string) {
	t.Helper()
	var sts appsv1.StatefulSet
	err := cl.Client().Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &sts)
	if !apierrors.IsNotFound(err) {
		t.Fatalf("StatefulSet %s/%s: %v, want NotFound", ns, name, err)
	}
}
