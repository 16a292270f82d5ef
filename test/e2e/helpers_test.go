package e2e

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/test/cluster"
)

const (
	// podTimeout bounds the wait for a workload's pods to run with IPs
	// (50 StatefulSet pods start one after the other).
	podTimeout = 3 * time.Minute
	// dnsTimeout bounds the wait for CoreDNS to answer as expected once
	// the pods run: EndpointSlices and CoreDNS's watch follow within
	// about a second.
	dnsTimeout = 30 * time.Second
	// kubectlTimeout bounds one kubectl call.
	kubectlTimeout = time.Minute
)

// guardMu is held shared by every test and exclusively by one that
// changes what the whole cluster admits (disableGuard).
var guardMu sync.RWMutex

// setup returns the shared cluster for a top-level test, and dumps every
// component's log when the test (or one of its subtests) fails.
func setup(t *testing.T) *cluster.Cluster {
	t.Helper()
	guardMu.RLock()
	t.Cleanup(guardMu.RUnlock)
	dumpOnFailure(t)
	return cl
}

// setupExclusive is setup for a test that disables the guard for a while.
func setupExclusive(t *testing.T) *cluster.Cluster {
	t.Helper()
	guardMu.Lock()
	t.Cleanup(guardMu.Unlock)
	dumpOnFailure(t)
	return cl
}

func dumpOnFailure(t *testing.T) {
	t.Cleanup(func() {
		if t.Failed() {
			cl.DumpLogs(t)
		}
	})
}

// fqdn is <labels...>.svc.cluster.local., absolute.
func fqdn(labels ...string) string {
	return strings.Join(labels, ".") + ".svc." + cluster.ClusterDomain + "."
}

// createNamespace creates ns (unless it is "default") with labels.
func createNamespace(t *testing.T, ns string, labels map[string]string) {
	t.Helper()
	if ns == "default" {
		return
	}
	obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: labels}}
	if err := cl.Client().Create(t.Context(), obj); err != nil {
		t.Fatalf("creating namespace %s: %v", ns, err)
	}
}

// labelNamespace sets one label on ns.
func labelNamespace(t *testing.T, ns, key, value string) {
	t.Helper()
	var obj corev1.Namespace
	if err := cl.Client().Get(t.Context(), client.ObjectKey{Name: ns}, &obj); err != nil {
		t.Fatal(err)
	}
	if obj.Labels == nil {
		obj.Labels = map[string]string{}
	}
	obj.Labels[key] = value
	if err := cl.Client().Update(t.Context(), &obj); err != nil {
		t.Fatalf("labelling namespace %s: %v", ns, err)
	}
}

// kubectl runs the real kubectl with stdin (nil for none).
func kubectl(t *testing.T, stdin []byte, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	return cl.Kubectl(ctx, stdin, args...)
}

// apply applies manifests in ns through kubectl (and so through the
// webhooks) and fails t when kubectl does; it returns kubectl's stderr
// (warnings).
func apply(t *testing.T, ns string, manifests []byte) string {
	t.Helper()
	out, errOut, err := kubectl(t, manifests, "apply", "-n", ns, "-f", "-")
	if err != nil {
		t.Fatalf("kubectl apply -n %s: %v\n%s%s", ns, err, out, errOut)
	}
	t.Logf("kubectl apply -n %s:\n%s%s", ns, out, errOut)
	return errOut
}

var namespaceLine = regexp.MustCompile(`(?m)^  namespace: default[ \t]*(#.*)?\n`)

// seed reads a manifest of rules/testdata/seeds/ (the seeds' YAML as the
// documents print it) or of testdata/. With ns other than "default", a
// `namespace: default` of the document is dropped, so that the objects
// land in ns: kubectl refuses a namespace that differs from -n.
func seed(t *testing.T, name, ns string) []byte {
	t.Helper()
	path := filepath.Join("..", "..", "rules", "testdata", "seeds", name)
	if strings.HasPrefix(name, "testdata/") {
		path = name
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if ns != "default" {
		data = namespaceLine.ReplaceAll(data, nil)
	}
	return data
}

// eventually polls cond every 200ms until it holds or d passes, then
// fails t with the last state cond reported and what the namespace holds.
func eventually(t *testing.T, ns string, d time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last: %s\n%s", what, d, state, describe(t, ns))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// describe is what kubectl shows of the workloads in ns, for failures.
func describe(t *testing.T, ns string) string {
	out, errOut, err := kubectl(t, nil, "get", "statefulsets,deployments,pods,services,endpointslices", "-n", ns, "-o", "wide")
	if err != nil {
		return fmt.Sprintf("(kubectl get: %v: %s)", err, errOut)
	}
	return "kubectl get -n " + ns + ":\n" + out
}

// waitPods waits until exactly n pods match labels in ns, all Running
// and Ready with an IP, and returns them sorted by name.
func waitPods(t *testing.T, ns string, labels map[string]string, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	eventually(t, ns, podTimeout, fmt.Sprintf("%d pods %v running with IPs in %s", n, labels, ns), func() (bool, string) {
		var list corev1.PodList
		if err := cl.Client().List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels(labels)); err != nil {
			return false, err.Error()
		}
		running := 0
		for _, p := range list.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && podReady(p) {
				running++
			}
		}
		pods = list.Items
		return running == n && len(list.Items) == n, fmt.Sprintf("%d pods, %d running with an IP", len(list.Items), running)
	})
	slices.SortFunc(pods, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return pods
}

func podReady(p corev1.Pod) bool {
	return slices.ContainsFunc(p.Status.Conditions, func(c corev1.PodCondition) bool {
		return c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue
	})
}

// podIPs are the IPs of pods, sorted.
func podIPs(pods []corev1.Pod) []string {
	var ips []string
	for _, p := range pods {
		ips = append(ips, p.Status.PodIP)
	}
	slices.Sort(ips)
	return ips
}

// ipOf is the IP of the pod named name.
func ipOf(t *testing.T, pods []corev1.Pod, name string) string {
	t.Helper()
	for _, p := range pods {
		if p.Name == name {
			return p.Status.PodIP
		}
	}
	t.Fatalf("no pod %s among %d", name, len(pods))
	return ""
}

// dashed is the name CoreDNS gives an endpoint without a hostname:
// 10.244.0.5 -> 10-244-0-5.
func dashed(ip string) string { return strings.ReplaceAll(ip, ".", "-") }

// lookupA is every address CoreDNS returns for name, sorted.
func lookupA(name string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := cl.Resolver().LookupHost(ctx, name)
	slices.Sort(addrs)
	return addrs, err
}

// resolves waits until name resolves to exactly want (sorted).
func resolves(t *testing.T, ns, name string, want []string) {
	t.Helper()
	eventually(t, ns, dnsTimeout, fmt.Sprintf("%s -> %v", name, want), func() (bool, string) {
		got, err := lookupA(name)
		if err != nil {
			return false, err.Error()
		}
		return slices.Equal(got, want), fmt.Sprint(got)
	})
}

// srvTargets waits until SRV _<port>._tcp.<name> lists exactly want as
// target:port (sorted).
func srvTargets(t *testing.T, ns, port, name string, want []string) {
	t.Helper()
	eventually(t, ns, dnsTimeout, fmt.Sprintf("SRV _%s._tcp.%s -> %v", port, name, want), func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, srvs, err := cl.Resolver().LookupSRV(ctx, port, "tcp", name)
		if err != nil {
			return false, err.Error()
		}
		var got []string
		for _, s := range srvs {
			got = append(got, fmt.Sprintf("%s:%d", s.Target, s.Port))
		}
		slices.Sort(got)
		return slices.Equal(got, want), fmt.Sprint(got)
	})
}

// ptr waits until the reverse lookup of ip lists every name of want. An
// IP behind several Services has one PTR record per Service; nslookup
// prints the first (seed 004 shows both Services' names).
func ptr(t *testing.T, ns, ip string, want ...string) {
	t.Helper()
	eventually(t, ns, dnsTimeout, fmt.Sprintf("PTR %s -> %v", ip, want), func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		names, err := cl.Resolver().LookupAddr(ctx, ip)
		if err != nil {
			return false, err.Error()
		}
		for _, n := range want {
			if !slices.Contains(names, n) {
				return false, fmt.Sprint(names)
			}
		}
		return true, fmt.Sprint(names)
	})
}

// rcode asks CoreDNS for the A records of name over TCP and returns the
// response code and answers: net.Resolver reports NXDOMAIN and NODATA
// alike (IsNotFound), a seed's claim needs the difference.
func rcode(name string) (dnsmessage.RCode, []dnsmessage.Resource, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	q, err := dnsmessage.NewName(name)
	if err != nil {
		return 0, nil, err
	}
	msg := dnsmessage.Message{
		Header:    dnsmessage.Header{ID: uint16(rand.Uint32()), RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: q, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}},
	}
	packed, err := msg.Pack()
	if err != nil {
		return 0, nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", cl.DNSAddr())
	if err != nil {
		return 0, nil, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if _, err := conn.Write(binary.BigEndian.AppendUint16(nil, uint16(len(packed)))); err != nil {
		return 0, nil, err
	}
	if _, err := conn.Write(packed); err != nil {
		return 0, nil, err
	}
	var size [2]byte
	if _, err := io.ReadFull(conn, size[:]); err != nil {
		return 0, nil, err
	}
	body := make([]byte, binary.BigEndian.Uint16(size[:]))
	if _, err := io.ReadFull(conn, body); err != nil {
		return 0, nil, err
	}
	var resp dnsmessage.Message
	if err := resp.Unpack(body); err != nil {
		return 0, nil, err
	}
	if resp.ID != msg.ID {
		return 0, nil, errors.New("answer to another query")
	}
	return resp.RCode, resp.Answers, nil
}

// nxdomain fails t unless CoreDNS answers NXDOMAIN for name.
func nxdomain(t *testing.T, ns, name string) {
	t.Helper()
	code, answers, err := rcode(name)
	if err != nil {
		t.Fatalf("query %s: %v", name, err)
	}
	if code != dnsmessage.RCodeNameError {
		t.Fatalf("%s: %s with %d answers, want NXDOMAIN\n%s", name, code, len(answers), describe(t, ns))
	}
}
