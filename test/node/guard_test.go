package node

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/test/cluster"
	"github.com/headless-guard/headless-guard/test/framework"
)

// TestGuardRunsAsTheChartsPods: the chart's Deployment runs on the node as
// a platform team's install would, from the image `make image` built: two
// Ready replicas on the node's network, with the chart's probes and
// securityContext (read-only root, non-root 65532, RuntimeDefault
// seccomp, no capabilities); the API server calls them through the
// Service of the webhook configurations, and they deny and admit real
// StatefulSets whose pods then run.
func TestGuardRunsAsTheChartsPods(t *testing.T) {
	n := setup(t)
	ctx := t.Context()
	pods, err := guardPods(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 2 {
		t.Fatalf("%d guard pods run, want the chart's two replicas", len(pods))
	}
	subnet := netip.MustParsePrefix(cluster.NodePodSubnet)
	for _, p := range pods {
		ip, err := netip.ParseAddr(p.Status.PodIP)
		if p.Spec.NodeName != cluster.RealNodeName || err != nil || !subnet.Contains(ip) {
			t.Errorf("pod %s: node %q, IP %q; want node %s, an IP in %s", p.Name, p.Spec.NodeName, p.Status.PodIP, cluster.RealNodeName, subnet)
		}
		ctr := p.Spec.Containers[0]
		st := p.Status.ContainerStatuses
		if ctr.Image != guardImage || len(st) != 1 || !st[0].Ready || st[0].ImageID == "" {
			t.Errorf("pod %s: image %s, statuses %+v; want %s running Ready", p.Name, ctr.Image, st, guardImage)
		}
		sc, psc := ctr.SecurityContext, p.Spec.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" ||
			psc == nil || psc.RunAsUser == nil || *psc.RunAsUser != 65532 || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
			t.Errorf("pod %s does not run with the chart's securityContext: pod %+v, container %+v", p.Name, psc, sc)
		}
		if ctr.ReadinessProbe == nil || ctr.LivenessProbe == nil {
			t.Errorf("pod %s: no readiness or liveness probe", p.Name)
		}
		if st[0].RestartCount != 0 {
			t.Errorf("pod %s restarted %d times", p.Name, st[0].RestartCount)
		}
	}

	// The webhook configurations call the Service, not a URL.
	var vwcs admissionregistrationv1.ValidatingWebhookConfigurationList
	if err := n.Client().List(ctx, &vwcs); err != nil {
		t.Fatal(err)
	}
	services := 0
	for _, c := range vwcs.Items {
		for _, w := range c.Webhooks {
			if w.ClientConfig.Service == nil || w.ClientConfig.URL != nil {
				t.Errorf("webhook %s calls %+v, not the chart's Service", w.Name, w.ClientConfig)
				continue
			}
			if s := w.ClientConfig.Service; s.Namespace == guardNamespace && s.Name == "headless-guard-webhook" && len(w.ClientConfig.CABundle) > 0 {
				services++
			}
		}
	}
	if services == 0 {
		t.Fatalf("no validating webhook calls Service %s/headless-guard-webhook with a caBundle", guardNamespace)
	}

	// Through the Service: a StatefulSet whose Service is misspelt is
	// denied by a guard pod, the right one admitted, and its pod runs.
	ns := "admission"
	createNamespace(t, ns)
	if err := n.Client().Create(ctx, headlessService(ns, "web-headless", "web")); err != nil {
		t.Fatal(err)
	}
	err = n.Client().Create(ctx, statefulSet(ns, "web", "web", "web", 1))
	if err == nil || !strings.Contains(err.Error(), "HG002") || !strings.Contains(err.Error(), "`web-headless`") {
		t.Fatalf("StatefulSet with serviceName web (the Service is web-headless): %v; want a denial by HG002 naming web-headless", err)
	}
	t.Logf("denied by the guard's pods: %v", err)
	if err := n.Client().Create(ctx, statefulSet(ns, "web", "web-headless", "web", 1)); err != nil {
		t.Fatalf("StatefulSet with serviceName web-headless: %v", err)
	}
	pods = waitPods(t, ns, map[string]string{"app": "web"}, 1)
	t.Logf("pod %s runs on %s at %s", pods[0].Name, pods[0].Spec.NodeName, pods[0].Status.PodIP)
}

// TestReadyOnlyOnceTheCacheSynced: the moment the first replica turned
// Ready (its EndpointSlice endpoint Ready, so that the API server calls
// it), it judged StatefulSets from a synced cache: a Service created
// before the install is known (the valid StatefulSet admitted, the
// misspelt one denied naming it), and its serving certificate is the one
// the caBundle holds (no "x509: certificate signed by unknown authority").
// A readiness probe that passed before the informers synced fails this.
func TestReadyOnlyOnceTheCacheSynced(t *testing.T) {
	setup(t)
	r := firstReady
	t.Logf("first replica Ready %s after helm install began (%d retries on \"no endpoints available\")", r.after.Round(10*time.Millisecond), r.retries)
	if r.broken == nil || !strings.Contains(r.broken.Error(), "HG002") || !strings.Contains(r.broken.Error(), "`web-headless`") {
		t.Errorf("StatefulSet db with serviceName web at the first Ready: %v; want a denial by HG002 naming web-headless", r.broken)
	}
	if r.valid != nil {
		t.Errorf("StatefulSet web (Service %s/web-headless exists) at the first Ready: %v", cacheNamespace, r.valid)
	}
}

// TestServicePortDiffersFromContainerPort: with the Service's targetPort
// not a port of the container (a chart whose Service and Deployment
// disagree), the API server finds no endpoint for the webhook and every
// StatefulSet write fails with "no endpoints available": what
// TestGuardRunsAsTheChartsPods would meet if the chart broke so. The
// chart's own port is then restored and writes pass again.
func TestServicePortDiffersFromContainerPort(t *testing.T) {
	n := setup(t)
	ns := "port-mismatch"
	createNamespace(t, ns)
	patch := func(port string) {
		t.Helper()
		if out, errOut, err := kubectl([]byte(fmt.Sprintf(`{"spec":{"ports":[{"name":"webhook","port":443,"targetPort":%q}]}}`, port)),
			"patch", "service", "headless-guard-webhook", "-n", guardNamespace, "--type", "merge", "--patch-file", "/dev/stdin"); err != nil {
			t.Fatalf("%v\n%s%s", err, out, errOut)
		}
	}
	// A server-side dry run: the guard is called as for a write.
	write := func() error {
		return n.Client().Create(t.Context(), statefulSet(ns, "web", "web-headless", "web", 0), client.DryRunAll)
	}
	patch("webhooks")
	restored := false
	t.Cleanup(func() {
		if !restored {
			patch("webhook")
		}
	})
	var err error
	framework.Eventually(t, 60*time.Second, `StatefulSet writes failing with "no endpoints available"`, func() (bool, string) {
		err = write()
		return err != nil && strings.Contains(err.Error(), "no endpoints available"), fmt.Sprint(err)
	})
	t.Logf("with targetPort webhooks: %v", err)
	patch("webhook")
	restored = true
	framework.Eventually(t, 60*time.Second, "StatefulSet writes admitted again", func() (bool, string) {
		err := write()
		return err == nil, fmt.Sprint(err)
	})
}

// createNamespace creates ns and deletes it when the test ends.
func createNamespace(t *testing.T, ns string) {
	t.Helper()
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
	if err := node.Client().Create(t.Context(), obj); err != nil {
		t.Fatalf("creating namespace %s: %v", ns, err)
	}
}

// waitPods waits until exactly n pods match labels in ns, all Running and
// Ready with an IP, and returns them sorted by name.
func waitPods(t *testing.T, ns string, labels map[string]string, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	framework.Eventually(t, podTimeout, fmt.Sprintf("%d pods %v running in %s", n, labels, ns), func() (bool, string) {
		var list corev1.PodList
		if err := node.Client().List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels(labels)); err != nil {
			return false, err.Error()
		}
		ready := 0
		var states []string
		for _, p := range list.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && podReady(p) {
				ready++
			}
			states = append(states, fmt.Sprintf("%s %s %v", p.Name, p.Status.Phase, p.Status.ContainerStatuses))
		}
		pods = list.Items
		return ready == n && len(list.Items) == n, strings.Join(states, "; ")
	})
	return sortPods(pods)
}

func podReady(p corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func sortPods(pods []corev1.Pod) []corev1.Pod {
	out := append([]corev1.Pod(nil), pods...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].Name < out[i].Name {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}
