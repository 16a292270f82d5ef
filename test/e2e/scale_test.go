package e2e

import (
	"fmt"
	"testing"
	"time"
)

// scaledReplicas is what TestScale scales the seeds' workloads to.
const scaledReplicas = 50

// TestScale scales seed 000's StatefulSet and seed 002's Deployment from 3
// to 50 replicas: every name resolves, the Service names return 50 A
// records and the SRV record 50 targets (answers over UDP's 512 bytes).
// The StatefulSet then scales back to 3, and the names of the removed
// pods are gone.
func TestScale(t *testing.T) {
	setup(t)
	t.Run("StatefulSet web", func(t *testing.T) {
		t.Parallel()
		ns := "scale-statefulset"
		createNamespace(t, ns, nil)
		apply(t, ns, seed(t, "seed-000-nginx-web.yaml", ns))
		app := map[string]string{"app": "nginx"}
		waitPods(t, ns, app, 3)
		start := time.Now()
		scale(t, ns, "statefulset/web", scaledReplicas)
		pods := waitPods(t, ns, app, scaledReplicas)
		t.Logf("%d pods running %s after the scale", scaledReplicas, time.Since(start).Round(10*time.Millisecond))
		statefulSetDNS(t, ns, "nginx-headless", "web", pods, map[string]int{"web": 80})
		t.Logf("all %d names resolve %s after the scale", scaledReplicas, time.Since(start).Round(10*time.Millisecond))

		start = time.Now()
		scale(t, ns, "statefulset/web", 3)
		pods = waitPods(t, ns, app, 3)
		resolves(t, ns, fqdn("nginx-headless", ns), podIPs(pods))
		for i := 3; i < scaledReplicas; i++ {
			nxdomain(t, ns, fqdn(fmt.Sprintf("web-%d", i), "nginx-headless", ns))
		}
		t.Logf("back to 3 names %s after scaling down", time.Since(start).Round(10*time.Millisecond))
	})
	t.Run("Deployment my-app", func(t *testing.T) {
		t.Parallel()
		ns := "scale-deployment"
		createNamespace(t, ns, nil)
		apply(t, ns, seed(t, "seed-002-my-app-deployment.yaml", ns))
		app := map[string]string{"app": "my-app"}
		waitPods(t, ns, app, 3)
		start := time.Now()
		scale(t, ns, "deployment/my-app", scaledReplicas)
		deploymentDNS(t, ns, "my-headless-service", waitPods(t, ns, app, scaledReplicas))
		t.Logf("all %d names resolve %s after the scale", scaledReplicas, time.Since(start).Round(10*time.Millisecond))
	})
}

func scale(t *testing.T, ns, object string, replicas int) {
	t.Helper()
	if out, errOut, err := kubectl(t, nil, "scale", "-n", ns, object, fmt.Sprintf("--replicas=%d", replicas)); err != nil {
		t.Fatalf("%v\n%s%s", err, out, errOut)
	}
}
