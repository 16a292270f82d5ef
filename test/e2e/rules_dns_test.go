package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/rules"
)

// TestRulesDNS breaks every rule in the cluster, one way per DNSCase of the
// registry, and compares what CoreDNS then answers with the rule's claim
// (rules.Rule.DNS, the "what DNS answers" column of docs/rules.md): a claim
// that differs from CoreDNS's answers fails the test, and so does a case
// without a scenario here. Each scenario runs in a namespace labelled
// `headless-guard.io/mode=warn`, so the guard admits the broken objects
// and says, in a warning, which rule they break.
func TestRulesDNS(t *testing.T) {
	setup(t)
	scenarios := dnsScenarios()
	covered := map[string]bool{}
	// What CoreDNS answered, as docs/rules.md prints it, checked against
	// the file once every case has run.
	var mu sync.Mutex
	observed := map[string]string{}
	t.Cleanup(func() {
		doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "rules.md"))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range observed {
			if !strings.Contains(string(doc), line) {
				t.Errorf("docs/rules.md does not say what CoreDNS answered: %q (make docs)", line)
			}
		}
	})
	for _, r := range rules.Default().Rules() {
		for _, c := range r.DNS {
			key := r.ID + ": " + c.Case
			covered[key] = true
			sc, ok := scenarios[key]
			if !ok {
				t.Errorf("%s: no scenario breaks this case in the cluster", key)
				continue
			}
			t.Run(r.ID+"/"+c.Case, func(t *testing.T) {
				t.Parallel()
				start := time.Now()
				ns := fmt.Sprintf("dns-%s-%d", strings.ToLower(r.ID), slices.Index(r.DNS, c))
				createNamespace(t, ns, map[string]string{rules.ModeLabel: string(rules.ModeWarn)})
				got, warnings := sc.run(t, ns, c.Loss)
				if r.Default != rules.ActionOff && !strings.Contains(warnings, "Warning: "+r.ID+" ") {
					t.Errorf("the guard never warned about %s while the scenario broke it:\n%s", r.ID, warnings)
				}
				mu.Lock()
				observed[key] = "\n  - " + c.Case + ": " + got.String() + "\n"
				mu.Unlock()
				if got != c.Loss {
					t.Errorf("%s broken (%s): CoreDNS answers %q, the registry claims %q\n%s", r.ID, c.Case, got, c.Loss, describe(t, ns))
				} else {
					// What CoreDNS answers is known: `headless-guard dns`
					// must explain it.
					checkDNSCommand(t, ns, r, c)
				}
				t.Logf("%s (%s): %s, observed %s after the first apply", r.ID, c.Case, got, time.Since(start).Round(10*time.Millisecond))
			})
		}
	}
	for key := range scenarios {
		if !covered[key] {
			t.Errorf("scenario %q matches no DNSCase of the registry", key)
		}
	}
}

// dnsScenario is one way of breaking a rule, and where to look in DNS.
type dnsScenario struct {
	// manifests are applied first (one kubectl apply).
	manifests string
	// healthy, when set, waits for DNS to answer as for a correct
	// StatefulSet before breakage (for rules about changes).
	healthy bool
	// breakage, when set, breaks the rule after manifests; it returns
	// kubectl's stderr.
	breakage func(t *testing.T, ns string) string
	// probe, when set, runs once the pods run and returns kubectl's
	// stderr: for a warning the first apply cannot show.
	probe func(t *testing.T, ns string) string
	// workload names the StatefulSet (or the Pod) whose pods are observed.
	workload string
	// pods is how many pods the workload asks for.
	pods int
	// service is the name the pods' records live under (`spec.serviceName`,
	// or the subdomain).
	service string
	// srv maps the named ports whose SRV records are observed to the port
	// the records must carry.
	srv map[string]int
}

// The scenarios' objects: nginx StatefulSets like seed 000's, two
// replicas, and their headless Service.
func statefulSetManifest(name, serviceName string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: %s
spec:
  serviceName: %q
  replicas: 2
  selector:
    matchLabels:
      app: nginx
  template:
    metadata:
      labels:
        app: nginx
    spec:
      containers:
      - name: nginx
        image: registry.k8s.io/nginx-slim:0.27
        ports:
        - containerPort: 80
          name: web
`, name, serviceName)
}

// serviceManifest is a Service named name; spec is the indented body of
// its spec.
func serviceManifest(name, spec string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\nspec:\n%s", name, spec)
}

const (
	headlessSpec = `  clusterIP: None
  selector:
    app: nginx
  ports:
  - name: web
    port: 80
`
	clusterIPSpec = `  selector:
    app: nginx
  ports:
  - name: web
    port: 80
`
)

func docs(parts ...string) string { return strings.Join(parts, "---\n") }

// dnsScenarios are keyed "<rule ID>: <DNSCase.Case>".
func dnsScenarios() map[string]dnsScenario {
	web := func(s dnsScenario) dnsScenario {
		if s.workload == "" {
			s.workload, s.pods, s.service = "web", 2, "nginx-headless"
		}
		if s.srv == nil {
			s.srv = map[string]int{"web": 80}
		}
		return s
	}
	healthy := docs(serviceManifest("nginx-headless", headlessSpec), statefulSetManifest("web", "nginx-headless"))
	return map[string]dnsScenario{
		"HG001: `spec.serviceName` empty, a headless Service selects the pods": web(dnsScenario{
			manifests: docs(serviceManifest("nginx-headless", headlessSpec), statefulSetManifest("web", "")),
		}),
		"HG002: `spec.serviceName` names no Service": web(dnsScenario{
			manifests: docs(serviceManifest("nginx-headless", headlessSpec), statefulSetManifest("web", "nginx")),
			service:   "nginx", workload: "web", pods: 2,
		}),
		"HG003: ClusterIP Service": web(dnsScenario{
			manifests: docs(serviceManifest("nginx-headless", clusterIPSpec), statefulSetManifest("web", "nginx-headless")),
		}),
		"HG004: selector key the pod template lacks": web(dnsScenario{
			manifests: docs(serviceManifest("nginx-headless", strings.Replace(headlessSpec, "app: nginx\n", "app: nginx\n    tier: web\n", 1)), statefulSetManifest("web", "nginx-headless")),
		}),
		"HG005: unnamed Service port": web(dnsScenario{
			manifests: docs(serviceManifest("nginx-headless", strings.Replace(headlessSpec, "  - name: web\n    port: 80\n", "  - port: 80\n", 1)), statefulSetManifest("web", "nginx-headless")),
		}),
		"HG006: named `targetPort` no container port has": web(dnsScenario{
			manifests: docs(serviceManifest("nginx-headless", headlessSpec+"  - name: metrics\n    port: 9090\n    targetPort: metrics\n"), statefulSetManifest("web", "nginx-headless")),
			srv:       map[string]int{"web": 80, "metrics": 9090},
		}),
		"HG007: StatefulSet name of 60 characters": web(dnsScenario{
			manifests: docs(serviceManifest("nginx-headless", headlessSpec), statefulSetManifest(longName, "nginx-headless")),
			workload:  longName, pods: 2, service: "nginx-headless",
		}),
		// HG008 lists the workloads of the guard's cache, which may not
		// have the Deployment yet when the StatefulSet follows it within
		// milliseconds: a dry-run update of the StatefulSet, once the pods
		// run, shows the warning.
		"HG008: selector also selects a Deployment's pods": web(dnsScenario{
			manifests: docs(healthy, deploymentManifest),
			probe: func(t *testing.T, ns string) string {
				sts := strings.Replace(statefulSetManifest("web", "nginx-headless"), "metadata:\n  name: web\n", "metadata:\n  name: web\n  labels:\n    probe: hg008\n", 1)
				_, errOut, err := kubectl(t, []byte(sts), "apply", "--dry-run=server", "-n", ns, "-f", "-")
				if err != nil {
					t.Fatalf("kubectl apply --dry-run=server: %v\n%s", err, errOut)
				}
				return errOut
			},
		}),
		"HG009: a pod not ready, `publishNotReadyAddresses` unset": web(dnsScenario{
			manifests: healthy, healthy: true,
			breakage: func(t *testing.T, ns string) string {
				markNotReady(t, ns, "web-1")
				return ""
			},
		}),
		"HG010: governing Service deleted": web(dnsScenario{
			manifests: healthy, healthy: true,
			breakage: func(t *testing.T, ns string) string {
				out, errOut, err := kubectl(t, nil, "delete", "service", "nginx-headless", "-n", ns)
				if err != nil {
					t.Fatalf("kubectl delete: %v\n%s%s", err, out, errOut)
				}
				return errOut
			},
		}),
		"HG011: selector changed away from the pods (breaks HG004)": web(dnsScenario{
			manifests: healthy, healthy: true,
			breakage: func(t *testing.T, ns string) string {
				return apply(t, ns, []byte(serviceManifest("nginx-headless", strings.Replace(headlessSpec, "app: nginx\n", "app: nginx-v2\n", 1))))
			},
		}),
		"HG011: port name removed (breaks HG005)": web(dnsScenario{
			manifests: healthy, healthy: true,
			breakage: func(t *testing.T, ns string) string {
				return apply(t, ns, []byte(serviceManifest("nginx-headless", strings.Replace(headlessSpec, "  - name: web\n    port: 80\n", "  - port: 80\n", 1))))
			},
		}),
		// The pods keep every record; the name in the configuration goes
		// through the client Service and never resolves.
		"HG013: per-pod name through another Service in an env value": web(dnsScenario{
			manifests: docs(serviceManifest("nginx-headless", headlessSpec), strings.Replace(statefulSetManifest("web", "nginx-headless"),
				"        ports:\n", "        env:\n        - name: PEERS\n          value: web-0.nginx:80,web-1.nginx:80\n        ports:\n", 1)),
		}),
		// The Kubernetes documentation's subdomain example without its
		// Service.
		"HG012: `spec.subdomain` names no Service": {
			manifests: subdomainPod,
			workload:  "busybox1", pods: 1, service: "busybox-subdomain",
			srv: map[string]int{"foo": 1234},
		},
	}
}

// longName is 60 characters: `<name>-<hash>` exceeds the 63 of a label
// value whatever the hash, so the controller cannot create the pods.
var longName = "web-" + strings.Repeat("abcdefgh", 7)

const deploymentManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx-frontend
spec:
  replicas: 1
  selector:
    matchLabels:
      app: nginx
      tier: frontend
  template:
    metadata:
      labels:
        app: nginx
        tier: frontend
    spec:
      containers:
      - name: nginx
        image: registry.k8s.io/nginx-slim:0.27
        ports:
        - containerPort: 80
          name: web
`

const subdomainPod = `apiVersion: v1
kind: Pod
metadata:
  name: busybox1
  labels:
    name: busybox
spec:
  hostname: busybox-1
  subdomain: busybox-subdomain
  containers:
  - image: busybox:1.28
    command:
      - sleep
      - "3600"
    name: busybox
`

// run applies the scenario, breaks the rule and returns what the workload's
// pods lost in DNS, as soon as CoreDNS answers what claim says and keeps
// answering it for a while (or when dnsTimeout passes), and every warning
// kubectl printed.
func (sc dnsScenario) run(t *testing.T, ns string, claim rules.DNSLoss) (rules.DNSLoss, string) {
	t.Helper()
	warnings := apply(t, ns, []byte(sc.manifests))
	if sc.healthy {
		pods := sc.waitPods(t, ns)
		if loss := sc.observe(t, ns, pods); loss != 0 {
			eventually(t, ns, dnsTimeout, "the correct StatefulSet's records", func() (bool, string) {
				loss := sc.observe(t, ns, pods)
				return loss == 0, loss.String()
			})
		}
	}
	if sc.breakage != nil {
		warnings += sc.breakage(t, ns)
	}
	pods := sc.waitPods(t, ns)
	if sc.probe != nil {
		warnings += sc.probe(t, ns)
	}
	sc.settle(t, ns)
	// Records appear within about a second of the EndpointSlices, and
	// disappear as fast: poll until the answers equal the claim, then hold
	// them for a few seconds, so that a record that is merely late cannot
	// pass for a missing one.
	var loss rules.DNSLoss
	deadline := time.Now().Add(dnsTimeout)
	for {
		loss = sc.observe(t, ns, pods)
		if loss == claim {
			stable := true
			for range 3 {
				time.Sleep(time.Second)
				if loss = sc.observe(t, ns, pods); loss != claim {
					stable = false
					break
				}
			}
			if stable {
				return loss, warnings
			}
		}
		if time.Now().After(deadline) {
			return loss, warnings
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitPods waits until the workload's pods run with an IP, or, for a
// StatefulSet its controller cannot make pods for, until it says so in a
// FailedCreate Event; it returns the pods that exist.
func (sc dnsScenario) waitPods(t *testing.T, ns string) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	eventually(t, ns, podTimeout, fmt.Sprintf("%d pods of %s running, or a FailedCreate Event", sc.pods, sc.workload), func() (bool, string) {
		var list corev1.PodList
		if err := cl.Client().List(context.Background(), &list, client.InNamespace(ns)); err != nil {
			return false, err.Error()
		}
		pods = pods[:0]
		for _, p := range list.Items {
			if sc.owns(p) && p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" {
				pods = append(pods, p)
			}
		}
		if len(pods) == sc.pods {
			return true, "running"
		}
		if failed := failedCreate(ns, sc.workload); failed != "" {
			return true, failed
		}
		return false, fmt.Sprintf("%d running", len(pods))
	})
	slices.SortFunc(pods, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return pods
}

// owns reports whether p is one of the observed workload's pods.
func (sc dnsScenario) owns(p corev1.Pod) bool {
	if p.Name == sc.workload {
		return true
	}
	owner := metav1.GetControllerOf(&p)
	return owner != nil && owner.Kind == "StatefulSet" && owner.Name == sc.workload
}

// failedCreate is the message of a FailedCreate Event of StatefulSet
// ns/name, or "".
func failedCreate(ns, name string) string {
	var events corev1.EventList
	if err := cl.Client().List(context.Background(), &events, client.InNamespace(ns)); err != nil {
		return ""
	}
	for _, e := range events.Items {
		if e.InvolvedObject.Kind == "StatefulSet" && e.InvolvedObject.Name == name && e.Reason == "FailedCreate" {
			return e.Message
		}
	}
	return ""
}

// settle waits until the EndpointSlice controller has answered for the
// observed Service (when it exists): its slices exist, then CoreDNS
// follows within a second.
func (sc dnsScenario) settle(t *testing.T, ns string) {
	t.Helper()
	var svc corev1.Service
	if err := cl.Client().Get(context.Background(), client.ObjectKey{Namespace: ns, Name: sc.service}, &svc); err != nil || len(svc.Spec.Selector) == 0 {
		return
	}
	eventually(t, ns, dnsTimeout, "EndpointSlices of Service "+sc.service, func() (bool, string) {
		var list discoveryv1.EndpointSliceList
		if err := cl.Client().List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{discoveryv1.LabelServiceName: sc.service}); err != nil {
			return false, err.Error()
		}
		return len(list.Items) > 0, fmt.Sprintf("%d slices", len(list.Items))
	})
	time.Sleep(time.Second)
}

// observe asks CoreDNS once for the records of the workload's pods and
// returns what is missing (or extra). With no pods, nothing of theirs can
// resolve.
func (sc dnsScenario) observe(t *testing.T, ns string, pods []corev1.Pod) rules.DNSLoss {
	t.Helper()
	all := rules.LosesPodAddresses | rules.LosesHostnames
	if len(sc.srv) > 0 {
		all |= rules.LosesSRV
	}
	if len(pods) == 0 {
		return rules.LosesPods | all
	}
	var loss rules.DNSLoss
	service := fqdn(sc.service, ns)
	addrs, _ := lookupA(service)
	for _, p := range pods {
		if !slices.Contains(addrs, p.Status.PodIP) {
			loss |= rules.LosesPodAddresses
		}
		host := p.Spec.Hostname
		if host == "" {
			host = p.Name
		}
		if got, _ := lookupA(fqdn(host, sc.service, ns)); !slices.Equal(got, []string{p.Status.PodIP}) {
			loss |= rules.LosesHostnames
		}
	}
	if strangers(t, ns, pods, addrs) {
		loss |= rules.AddsStrangers
	}
	for port, number := range sc.srv {
		if srvCount(port, service, number) < len(pods) {
			loss |= rules.LosesSRV
		}
	}
	return loss
}

// strangers reports whether addrs hold the IP of a pod of the namespace
// other than the workload's.
func strangers(t *testing.T, ns string, pods []corev1.Pod, addrs []string) bool {
	var list corev1.PodList
	if err := cl.Client().List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, p := range list.Items {
		if p.Status.PodIP != "" && !slices.ContainsFunc(pods, func(q corev1.Pod) bool { return q.Name == p.Name }) && slices.Contains(addrs, p.Status.PodIP) {
			return true
		}
	}
	return false
}

// srvCount is how many distinct targets SRV _<port>._tcp.<service> lists
// with port number.
func srvCount(port, service string, number int) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, srvs, err := cl.Resolver().LookupSRV(ctx, port, "tcp", service)
	if err != nil {
		return 0
	}
	targets := map[string]bool{}
	for _, s := range srvs {
		if int(s.Port) == number {
			targets[s.Target] = true
		}
	}
	return len(targets)
}

// markNotReady sets pod ns/name's Ready condition to False, as a kubelet
// does when a readiness probe fails (kwok leaves a Running pod's status
// alone).
func markNotReady(t *testing.T, ns, name string) {
	t.Helper()
	var pod corev1.Pod
	if err := cl.Client().Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &pod); err != nil {
		t.Fatal(err)
	}
	for i := range pod.Status.Conditions {
		if c := &pod.Status.Conditions[i]; c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
			c.Status, c.LastTransitionTime = corev1.ConditionFalse, metav1.Now()
		}
	}
	for i := range pod.Status.ContainerStatuses {
		pod.Status.ContainerStatuses[i].Ready = false
	}
	if err := cl.Client().Status().Update(t.Context(), &pod); err != nil {
		t.Fatalf("marking %s/%s not ready: %v", ns, name, err)
	}
}
