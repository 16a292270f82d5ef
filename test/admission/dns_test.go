package admission

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/internal/dnsexplain"
	"github.com/headless-guard/headless-guard/test/cluster"
	"github.com/headless-guard/headless-guard/test/framework"
)

// runningPods creates the pods of StatefulSet ns/name as its controller
// would (this control plane runs none), Running with IP 10.244.<net>.<i+1>,
// ready unless notReady names them, and the EndpointSlice the EndpointSlice
// controller would make for headless Service `service` (hostname, ready
// condition, targetRef, port web 80).
func runningPods(t *testing.T, c *cluster.Cluster, ns, name, service string, n, net int, notReady ...string) {
	t.Helper()
	ctx := t.Context()
	var sts appsv1.StatefulSet
	if err := c.Client().Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &sts); err != nil {
		t.Fatal(err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: ns, Name: service + "-x1", Labels: map[string]string{discoveryv1.LabelServiceName: service}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: new("web"), Port: new(int32(80)), Protocol: new(corev1.ProtocolTCP)}},
	}
	for i := range n {
		podName := fmt.Sprintf("%s-%d", name, i)
		ready := !strings.Contains(strings.Join(notReady, " "), podName)
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: podName, Labels: map[string]string{"app": name, "statefulset.kubernetes.io/pod-name": podName},
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(&sts, appsv1.SchemeGroupVersion.WithKind("StatefulSet"))}},
			Spec: *sts.Spec.Template.Spec.DeepCopy(),
		}
		pod.Spec.Hostname, pod.Spec.Subdomain = podName, service
		if err := c.Client().Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		ip := fmt.Sprintf("10.244.%d.%d", net, i+1)
		status := corev1.ConditionTrue
		if !ready {
			status = corev1.ConditionFalse
		}
		pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.Now()}}}
		if err := c.Client().Status().Update(ctx, pod); err != nil {
			t.Fatal(err)
		}
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, Hostname: new(podName),
			Conditions: discoveryv1.EndpointConditions{Ready: new(ready), Serving: new(ready), Terminating: new(false)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: podName}})
	}
	if err := c.Client().Create(ctx, slice); err != nil {
		t.Fatal(err)
	}
}

// TestDNSReadsTheCluster: `headless-guard dns` reads a real
// kube-apiserver's Services, StatefulSets, Pods and EndpointSlices with
// only the permissions docs/deploy.md lists, explains the names they give,
// exits 1 when one is missing, and reads the cluster domain from
// kube-system/coredns when it may.
func TestDNSReadsTheCluster(t *testing.T) {
	guardMu.Lock()
	defer guardMu.Unlock()
	c := guard(t)
	ns := framework.Namespace(t, c, "dns", nil)
	// Without the peer list framework.StatefulSetYAML gives it: the explanation then
	// says where it looked for one, and what it could not read.
	sts := strings.Replace(framework.StatefulSetYAML("web", "web", ""), "        env:\n        - name: PEERS\n          value: web-0.web:80\n", "", 1)
	if strings.Contains(sts, "PEERS") {
		t.Fatal("statefulSetYAML's peer list changed: update this test's copy without it")
	}
	framework.MustKubectl(t, c, []byte(framework.ServiceYAML("web", "")+"---\n"+sts), "apply", "-n", ns, "-f", "-")
	runningPods(t, c, ns, "web", "web", 3, 7, "web-2")

	// The permissions of docs/deploy.md#headless-guard-dns, in one namespace.
	reader := framework.LimitedUser(t, c, ns, "dns-reader", rbacv1.PolicyRule{
		APIGroups: []string{"", "apps", "discovery.k8s.io"},
		Resources: []string{"services", "pods", "statefulsets", "endpointslices"},
		Verbs:     []string{"get", "list", "watch"},
	})
	r := framework.Run(t, nil, "dns", "statefulset/web", "-n", ns, "--kubeconfig", reader, "-o", "json")
	if r.Code != 1 {
		t.Fatalf("web-2 is not ready: exit %d, want 1\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	var rep dnsexplain.Report
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, r.Stdout)
	}
	if !strings.Contains(r.Stdout, "the ConfigMaps of namespace "+ns+" were not read (forbidden: grant list on configmaps to look in them)") {
		t.Errorf("a user who may not list ConfigMaps is told what was not looked at:\n%s", r.Stdout)
	}
	if rep.ClusterDomain != "cluster.local" || !strings.Contains(rep.DomainSource, "the default") {
		t.Errorf("a user who may not read kube-system: domain %q from %q, want the default, said", rep.ClusterDomain, rep.DomainSource)
	}
	got := map[string]string{}
	for _, rec := range rep.Groups[0].Records {
		state := "ok"
		if rec.Missing {
			state = "missing"
			for _, why := range rec.Reasons {
				state += " " + why.Rule
			}
		}
		got[rec.Type+" "+strings.TrimSuffix(rec.Name, "."+ns+".svc.cluster.local")] = strings.Join(rec.Objects, ",") + " " + state
	}
	want := map[string]string{
		"A web-0.web":       "10.244.7.1 ok",
		"A web-1.web":       "10.244.7.2 ok",
		"A web-2.web":       " missing HG009",
		"A web":             "10.244.7.1,10.244.7.2 missing HG009",
		"SRV _web._tcp.web": "web-0.web." + ns + ".svc.cluster.local:80,web-1.web." + ns + ".svc.cluster.local:80 missing HG009",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("records:\n got %v\nwant %v\n%s", got, want, r.Stdout)
	}

	// Text, for a pod, as people read it.
	r = framework.Run(t, nil, "dns", "pod/web-0", "-n", ns, "--kubeconfig", reader)
	if r.Code != 0 || !strings.Contains(r.Stdout, "web-0.web  A     10.244.7.1  10.244.7.1   ok") {
		t.Errorf("pod/web-0: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// Without permission on EndpointSlices, the error says what is needed.
	noSlices := framework.LimitedUser(t, c, ns, "dns-no-slices", rbacv1.PolicyRule{APIGroups: []string{"", "apps"}, Resources: []string{"services", "pods", "statefulsets"}, Verbs: []string{"get", "list"}})
	r = framework.Run(t, nil, "dns", "-n", ns, "--kubeconfig", noSlices)
	if r.Code != 2 || !strings.Contains(r.Stderr, "listing endpointslices.discovery.k8s.io of namespace "+ns) || !strings.Contains(r.Stderr, "needs get and list on") {
		t.Errorf("without endpointslices: exit %d\n%s", r.Code, r.Stderr)
	}

	// The cluster domain, from CoreDNS's Corefile where kubeadm keeps it.
	corefile := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: "coredns"},
		Data: map[string]string{"Corefile": ".:53 {\n    errors\n    kubernetes example.internal in-addr.arpa ip6.arpa {\n       pods insecure\n    }\n    forward . /etc/resolv.conf\n}\n"}}
	if err := c.Client().Create(t.Context(), corefile); err != nil {
		t.Fatal(err)
	}
	// Other tests share the control plane: the domain must not stay.
	t.Cleanup(func() {
		if err := c.Client().Delete(context.Background(), corefile); err != nil {
			t.Errorf("deleting ConfigMap kube-system/coredns: %v", err)
		}
	})
	r = framework.Run(t, nil, "dns", "statefulset/web", "-n", ns, "--kubeconfig", c.KubeconfigPath())
	if !strings.Contains(r.Stdout, "cluster domain: example.internal (from the `kubernetes` plugin of ConfigMap kube-system/coredns)") || !strings.Contains(r.Stdout, "names relative to "+ns+".svc.example.internal") {
		t.Errorf("domain from the Corefile:\n%s%s", r.Stdout, r.Stderr)
	}
	if r = framework.Run(t, nil, "dns", "statefulset/web", "-n", ns, "--kubeconfig", c.KubeconfigPath(), "--cluster-domain", "cluster.local"); !strings.Contains(r.Stdout, "cluster domain: cluster.local (--cluster-domain)") {
		t.Errorf("--cluster-domain wins:\n%s", r.Stdout)
	}
	// Every namespace: this one's group among the others'.
	r = framework.Run(t, nil, "dns", "--all-namespaces", "-o", "json", "--kubeconfig", c.KubeconfigPath())
	var all dnsexplain.Report
	if err := json.Unmarshal([]byte(r.Stdout), &all); err != nil || r.Code != 1 || all.Target != "all namespaces" ||
		!slices.ContainsFunc(all.Groups, func(g dnsexplain.Group) bool { return g.Namespace == ns && g.Service == "web" }) {
		t.Errorf("--all-namespaces: exit %d, err %v, want the group of %s among %d\n%s", r.Code, err, ns, len(all.Groups), r.Stderr)
	}
	if r = framework.Run(t, nil, "dns", "statefulset/db", "-n", ns, "--kubeconfig", c.KubeconfigPath()); r.Code != 2 || !strings.Contains(r.Stderr, "StatefulSet "+ns+"/db not found") {
		t.Errorf("a StatefulSet that does not exist: exit %d\n%s", r.Code, r.Stderr)
	}
}
