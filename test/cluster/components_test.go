package cluster

import (
	"context"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestFullClusterRunsPodsAndServesDNS checks what Options.Full promises:
// a pod gets scheduled to the fake Node and runs with an IP from PodCIDR,
// CoreDNS answers for the API's own Service, every component logs to
// LogDir, and Stop ends them all.
func TestFullClusterRunsPodsAndServesDNS(t *testing.T) {
	c := Setup(t, Options{Full: true})
	ctx := t.Context()
	if !c.Full() || c.DNSAddr() == "" {
		t.Fatalf("Full() = %v, DNSAddr() = %q", c.Full(), c.DNSAddr())
	}

	pod := []byte(`apiVersion: v1
kind: Pod
metadata:
  name: probe
  namespace: default
spec:
  containers:
  - name: c
    image: busybox
`)
	if _, errOut, err := c.Kubectl(ctx, pod, "apply", "-f", "-"); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	prefix := netip.MustParsePrefix(PodCIDR)
	var got corev1.Pod
	deadline := time.Now().Add(time.Minute)
	for {
		if err := c.Client().Get(ctx, client.ObjectKey{Namespace: "default", Name: "probe"}, &got); err != nil {
			t.Fatal(err)
		}
		if got.Status.Phase == corev1.PodRunning && got.Status.PodIP != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod probe not Running with an IP within a minute: node %q, phase %s, IP %q", got.Spec.NodeName, got.Status.Phase, got.Status.PodIP)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got.Spec.NodeName != NodeName {
		t.Errorf("pod scheduled to %q, want %s", got.Spec.NodeName, NodeName)
	}
	if ip, err := netip.ParseAddr(got.Status.PodIP); err != nil || !prefix.Contains(ip) {
		t.Errorf("pod IP %q is not in %s (%v)", got.Status.PodIP, PodCIDR, err)
	}

	// In kube-system: the webhooks exclude it, and no guard runs here.
	svc := []byte(`apiVersion: v1
kind: Service
metadata:
  name: probe
  namespace: kube-system
spec:
  ports:
  - port: 80
`)
	if _, errOut, err := c.Kubectl(ctx, svc, "apply", "-f", "-"); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	var probe corev1.Service
	if err := c.Client().Get(ctx, client.ObjectKey{Namespace: "kube-system", Name: "probe"}, &probe); err != nil {
		t.Fatal(err)
	}
	name := "probe.kube-system.svc." + ClusterDomain + "."
	deadline = time.Now().Add(30 * time.Second)
	for {
		addrs, err := c.Resolver().LookupHost(ctx, name)
		if err == nil && slices.Equal(addrs, []string{probe.Spec.ClusterIP}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v %v, want [%s]", name, addrs, err, probe.Spec.ClusterIP)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := c.Resolver().LookupHost(ctx, "no-such-service.default.svc."+ClusterDomain+"."); err == nil {
		t.Error("no-such-service.default.svc resolves")
	}

	for _, name := range []string{"kube-controller-manager", "kube-scheduler", "kwok", "coredns"} {
		if !slices.ContainsFunc(c.componentLogs(), func(p string) bool { return strings.HasSuffix(p, "/"+name+".log") }) {
			t.Errorf("no log of %s among %v", name, c.componentLogs())
		}
	}
	if err := c.ComponentsAlive(); err != nil {
		t.Error(err)
	}

	procs := slices.Clone(c.components)
	configDir := c.configDir
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	for _, p := range procs {
		select {
		case <-p.done:
		default:
			t.Errorf("%s still runs after Stop", p.name)
		}
	}
	if _, err := os.Stat(configDir); !os.IsNotExist(err) {
		t.Errorf("%s outlived Stop (%v)", configDir, err)
	}
}

// TestFullClusterNeedsItsBinaries checks that a missing component binary
// is named with the make target that builds it, before anything starts.
func TestFullClusterNeedsItsBinaries(t *testing.T) {
	c := &Cluster{root: t.TempDir(), assets: t.TempDir()}
	_, err := c.componentPath("kwok")
	if err == nil || !strings.Contains(err.Error(), "bin/kwok") {
		t.Errorf("componentPath(kwok) in empty directories: %v, want an error naming bin/kwok", err)
	}
	if err := os.WriteFile(c.assets+"/kwok", nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if p, err := c.componentPath("kwok"); err != nil || p != c.assets+"/kwok" {
		t.Errorf("componentPath(kwok) = %q, %v, want the one in KUBEBUILDER_ASSETS", p, err)
	}
}

// TestFullClusterDNSPortTaken checks that a DNS port in use fails Start
// at once with the reason, instead of a CoreDNS that exits later.
func TestFullClusterDNSPortTaken(t *testing.T) {
	port, err := freeDNSPort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := listenUDP(port)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, err = Start(context.Background(), Options{Full: true, DNSPort: port})
	if err == nil || !strings.Contains(err.Error(), "is not free") {
		t.Errorf("Start with DNS port %d taken: %v, want an error saying it is not free", port, err)
	}
}

// TestNothingOfAFullClusterOutlivesAKilledProcess is
// TestNothingOutlivesAKilledProcess with Options.Full.
func TestNothingOfAFullClusterOutlivesAKilledProcess(t *testing.T) {
	// etcd, kube-apiserver, headless-guard, kube-controller-manager,
	// kube-scheduler, kwok, coredns
	nothingOutlives(t, "full", 7)
}

func listenUDP(port int) (net.PacketConn, error) {
	return net.ListenPacket("udp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
}
