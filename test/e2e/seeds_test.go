package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/rules"
)

// TestSeeds applies each seed document's manifests through headless-guard
// and checks the DNS answers the document shows (or claims). The
// documents' names are in namespace `default` (seed 004: `test`); where
// two documents would collide there, a namespace of their own takes its
// place in the names.
func TestSeeds(t *testing.T) {
	setup(t)
	for _, s := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"000-nginx-web", seed000},
		{"001-nginx", seed001},
		{"002-my-stateful-app", seed002StatefulApp},
		{"002-mysql", seed002MySQL},
		{"002-my-app-statefulset", seed002MyAppStatefulSet},
		{"002-my-app-deployment", seed002Deployment},
		{"002-my-app-headless", seed002DeploymentFirst},
		{"003-redis", seed003},
		{"004-api-deployment", seed004},
	} {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			s.run(t)
			t.Logf("%s: DNS answers as the document shows %s after the first apply", s.name, time.Since(start).Round(10*time.Millisecond))
		})
	}
}

// statefulSetDNS checks the records of a StatefulSet's pods behind their
// headless Service: the Service name returns one A record per pod, each
// <statefulset>-<i>.<service> resolves to pod i's IP and its IP back to
// that name, and SRV _<port>._tcp.<service> lists every pod name for each
// named port.
func statefulSetDNS(t *testing.T, ns, service, statefulSet string, pods []corev1.Pod, namedPorts map[string]int) {
	t.Helper()
	resolves(t, ns, fqdn(service, ns), podIPs(pods))
	var names []string
	for i := range pods {
		pod := fmt.Sprintf("%s-%d", statefulSet, i)
		ip := ipOf(t, pods, pod)
		resolves(t, ns, fqdn(pod, service, ns), []string{ip})
		ptr(t, ns, ip, fqdn(pod, service, ns))
		names = append(names, fqdn(pod, service, ns))
	}
	for port, number := range namedPorts {
		var targets []string
		for _, n := range names {
			targets = append(targets, fmt.Sprintf("%s:%d", n, number))
		}
		srvTargets(t, ns, port, fqdn(service, ns), sorted(targets))
	}
}

// Seed 000 (CCE, "Headless Service"): nginx-headless returns the three
// pods, each named web-<i>.nginx-headless.default.svc.cluster.local
// (nslookup prints those names: the PTR records); the port is named `web`.
func seed000(t *testing.T) {
	ns := "default"
	apply(t, ns, seed(t, "seed-000-nginx-web.yaml", ns))
	pods := waitPods(t, ns, map[string]string{"app": "nginx"}, 3)
	statefulSetDNS(t, ns, "nginx-headless", "web", pods, map[string]int{"web": 80})
}

// Seed 001: its Service nginx-headless, and the names its nslookup shows,
// nginx-<i>.nginx.default.svc.cluster.local: a StatefulSet `nginx` whose
// Service is `nginx`, which the document never creates. headless-guard
// denies that StatefulSet and points at nginx-headless; with injection on
// (namespace label) it creates Service `nginx` instead, and the document's
// names resolve.
func seed001(t *testing.T) {
	ns := "seed-001"
	createNamespace(t, ns, nil)
	apply(t, ns, seed(t, "seed-001-nginx-headless.yaml", ns))
	sts := seed(t, "testdata/seed-001-nginx-statefulset.yaml", ns)
	_, errOut, err := kubectl(t, sts, "apply", "-n", ns, "-f", "-")
	if err == nil || !strings.Contains(errOut, "HG002") || !strings.Contains(errOut, "nginx-headless") {
		t.Fatalf("StatefulSet nginx with serviceName nginx (no such Service): err %v, want a denial by HG002 naming nginx-headless\n%s", err, errOut)
	}
	labelNamespace(t, ns, rules.InjectLabel, "true")
	start := time.Now()
	if errOut := apply(t, ns, sts); !strings.Contains(errOut, "will create headless Service "+ns+"/nginx") {
		t.Fatalf("no promise of an injected Service %s/nginx in the warnings:\n%s", ns, errOut)
	}
	// The reconciler creates the Service from the stored StatefulSet; the
	// names answer as soon as the pods run.
	pods := waitPods(t, ns, map[string]string{"app": "nginx"}, 3)
	eventually(t, ns, 30*time.Second, "nginx-0.nginx answering", func() (bool, string) {
		addrs, err := lookupA(fqdn("nginx-0", "nginx", ns))
		return err == nil && len(addrs) == 1, fmt.Sprint(addrs, err)
	})
	t.Logf("seed 001 with inject-service: nginx-0.nginx.%s answered %v after the apply began", ns, time.Since(start).Round(10*time.Millisecond))
	statefulSetDNS(t, ns, "nginx", "nginx", pods, map[string]int{"nginx": 80})
	// The document's own Service selects the same pods: all of them, under
	// dashed-IP names (their subdomain is `nginx`, not `nginx-headless`).
	resolves(t, ns, fqdn("nginx-headless", ns), podIPs(pods))
	var targets []string
	for _, p := range pods {
		resolves(t, ns, fqdn(dashed(p.Status.PodIP), "nginx-headless", ns), []string{p.Status.PodIP})
		targets = append(targets, fqdn(dashed(p.Status.PodIP), "nginx-headless", ns)+":80")
	}
	srvTargets(t, ns, "nginx", fqdn("nginx-headless", ns), sorted(targets))
	// The injected Service is owned by the StatefulSet: the garbage
	// collector, not headless-guard, deletes it with it.
	if _, errOut, err := kubectl(t, nil, "delete", "statefulset", "nginx", "-n", ns); err != nil {
		t.Fatalf("deleting the StatefulSet: %v\n%s", err, errOut)
	}
	eventually(t, ns, 60*time.Second, "the injected Service deleted by the garbage collector", func() (bool, string) {
		out, errOut, _ := kubectl(t, nil, "get", "service", "nginx", "-n", ns, "-o", "name", "--ignore-not-found")
		return strings.TrimSpace(out) == "", out + errOut
	})
}

// Seed 002, "Stateful Applications": my-stateful-app-<i>.my-headless-service.
func seed002StatefulApp(t *testing.T) {
	ns := "seed-002-stateful-app"
	createNamespace(t, ns, nil)
	apply(t, ns, seed(t, "seed-002-my-stateful-app.yaml", ns))
	pods := waitPods(t, ns, map[string]string{"app": "my-app"}, 3)
	// The port is unnamed (HG005 warns): no SRV record to check.
	statefulSetDNS(t, ns, "my-headless-service", "my-stateful-app", pods, nil)
}

// Seed 002, MySQL: "mysql-0.mysql, mysql-1.mysql, and mysql-2.mysql".
func seed002MySQL(t *testing.T) {
	ns := "seed-002-mysql"
	createNamespace(t, ns, nil)
	apply(t, ns, seed(t, "seed-002-mysql.yaml", ns))
	pods := waitPods(t, ns, map[string]string{"app": "mysql"}, 3)
	statefulSetDNS(t, ns, "mysql", "mysql", pods, nil)
}

// Seed 002, "Service Discovery": the document claims the pods of
// StatefulSet my-app are my-headless-service-<i>.my-headless-service; they
// are my-app-<i>.my-headless-service, and the claimed names do not exist.
func seed002MyAppStatefulSet(t *testing.T) {
	ns := "seed-002-my-app-statefulset"
	createNamespace(t, ns, nil)
	apply(t, ns, seed(t, "seed-002-my-app-statefulset.yaml", ns))
	pods := waitPods(t, ns, map[string]string{"app": "my-app"}, 2)
	statefulSetDNS(t, ns, "my-headless-service", "my-app", pods, nil)
	for i := range 2 {
		nxdomain(t, ns, fqdn(fmt.Sprintf("my-headless-service-%d", i), "my-headless-service", ns))
	}
}

// deploymentDNS checks a Deployment's pods behind a headless Service: the
// Service name returns every pod IP, and each pod has the name
// <dashed IP>.<service> (the document's "<pod-ip-address>.<service-name>").
func deploymentDNS(t *testing.T, ns, service string, pods []corev1.Pod) {
	t.Helper()
	resolves(t, ns, fqdn(service, ns), podIPs(pods))
	for _, p := range pods {
		resolves(t, ns, fqdn(dashed(p.Status.PodIP), service, ns), []string{p.Status.PodIP})
	}
}

// Seed 002, Deployment behind my-headless-service (and the document's
// Python example resolving my-headless-service.default.svc.cluster.local).
func seed002Deployment(t *testing.T) {
	ns := "seed-002-my-app-deployment"
	createNamespace(t, ns, nil)
	apply(t, ns, seed(t, "seed-002-my-app-deployment.yaml", ns))
	deploymentDNS(t, ns, "my-headless-service", waitPods(t, ns, map[string]string{"app": "my-app"}, 3))
}

// Seed 002, the Deployment applied before its Service my-app-headless.
func seed002DeploymentFirst(t *testing.T) {
	ns := "seed-002-my-app-headless"
	createNamespace(t, ns, nil)
	apply(t, ns, seed(t, "seed-002-my-app-headless.yaml", ns))
	deploymentDNS(t, ns, "my-app-headless", waitPods(t, ns, map[string]string{"app": "my-app"}, 3))
}

// Seed 003: the common Service returns only its own address although it
// has two endpoints; the headless one returns the pods, each with a name.
func seed003(t *testing.T) {
	ns := "seed-003"
	createNamespace(t, ns, nil)
	apply(t, ns, seed(t, "testdata/seed-003-redis.yaml", ns))
	pods := waitPods(t, ns, map[string]string{"app": "redis"}, 2)
	resolves(t, ns, fqdn("redis-client", ns), []string{clusterIP(t, ns, "redis-client")})
	statefulSetDNS(t, ns, "redis", "redis", pods, map[string]int{"redis": 6379})
}

// Seed 004 (namespace `test`): five Deployment pods behind a common and a
// headless Service. normal-service returns its cluster IP alone,
// headless-service the five pod IPs, and each pod IP maps back to
// <dashed IP>.headless-service.test or <dashed IP>.normal-service.test (the
// document's nslookup shows both).
func seed004(t *testing.T) {
	ns := "test"
	createNamespace(t, ns, nil)
	apply(t, ns, seed(t, "seed-004-api-deployment.yaml", ns))
	pods := waitPods(t, ns, map[string]string{"app": "api"}, 5)
	resolves(t, ns, fqdn("normal-service", ns), []string{clusterIP(t, ns, "normal-service")})
	deploymentDNS(t, ns, "headless-service", pods)
	for _, p := range pods {
		ip := p.Status.PodIP
		ptr(t, ns, ip, fqdn(dashed(ip), "headless-service", ns), fqdn(dashed(ip), "normal-service", ns))
	}
}

// clusterIP is the cluster IP of Service ns/name.
func clusterIP(t *testing.T, ns, name string) string {
	t.Helper()
	var svc corev1.Service
	if err := cl.Client().Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &svc); err != nil {
		t.Fatal(err)
	}
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		t.Fatalf("Service %s/%s has cluster IP %q", ns, name, svc.Spec.ClusterIP)
	}
	return svc.Spec.ClusterIP
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	slices.Sort(out)
	return out
}
