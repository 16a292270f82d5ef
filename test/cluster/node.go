package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	// RealNodeName is the Node the kubelet registers.
	RealNodeName = "headless-guard-node"

	// nodeStartTimeout bounds each wait of the bring-up (containerd's
	// socket, the Node Ready), generous for a machine at load 10+.
	nodeStartTimeout = 3 * time.Minute
	// nodeDrainTimeout bounds the wait for the kubelet to stop every pod
	// at teardown.
	nodeDrainTimeout = 2 * time.Minute
	// kubeletClientUser is the API server's name to the kubelet.
	kubeletClientUser = "kube-apiserver-kubelet-client"
)

// nodeControllers are the kube-controller-manager controllers of a node's
// cluster: Options.Full's, and the ServiceAccounts and kube-root-ca.crt
// every pod's token volume needs (envtest's API server runs without the
// ServiceAccount admission plugin; a node's runs with it).
var nodeControllers = append(slices.Clone(controllers),
	"serviceaccount-controller",
	"root-ca-certificate-publisher-controller",
)

// NodeOptions configures StartNode.
type NodeOptions struct {
	// LogDir receives every component's log (kube-apiserver.log, etcd.log,
	// containerd.log, kubelet.log, ...). Default: a temporary directory,
	// removed by Stop.
	LogDir string
	// Images are OCI image archives (as `ctr images import` reads them)
	// imported into containerd before the kubelet starts: the pods' images,
	// SandboxImage among them. Nothing is ever pulled.
	Images []string
	// APIServerFlags are set on kube-apiserver's command line on top of
	// the node's (see StartNode).
	APIServerFlags map[string]string
}

// Node is a control plane (etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, CoreDNS) and one real node that runs its pods: containerd
// with runc, the CNI bridge and host-local plugins, and the kubelet.
//
// kube-apiserver runs as envtest starts it, on loopback, with the
// ServiceAccount admission plugin, --endpoint-reconciler-type=none and
// --enable-aggregator-routing=true: there is no kube-proxy, so no cluster
// IP answers, and the API server calls webhooks (and aggregated APIs) at
// their Services' endpoints. Pods reach the API server at the Service
// default/kubernetes's address (apiProxy), CoreDNS at NodeGatewayIP:53,
// and each other on NodeBridge.
type Node struct {
	*Cluster
	paths       nodePaths
	lock        *os.File
	proxy       *apiProxy
	bins        map[string]string
	bridge      bool
	controllers []*component // kube-controller-manager, kube-scheduler
	coredns     *component
	containerd  *component
	kubelet     *component
	logDir      string
	// leaveCgroup moves this process out of the node's cgroups.
	leaveCgroup func()
	stopOnce    sync.Once
	stopErr     error
}

// StartNode starts a control plane and a real node, and waits until the
// Node is Ready and schedulable. It takes the machine's node lock (waiting
// while another node runs), and removes what an earlier node killed
// mid-run left. Everything it starts is stopped, and everything it made
// removed, by Stop, or at once when ctx ends.
func StartNode(ctx context.Context, opts NodeOptions) (_ *Node, err error) {
	if reason := NodeUnavailable(); reason != "" {
		return nil, errors.New(reason)
	}
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	n := &Node{bins: map[string]string{}}
	for _, name := range append(slices.Clone(NodeBinaries), "coredns", "kube-controller-manager", "kube-scheduler") {
		if n.bins[name], err = FindAsset(root, name); err != nil {
			return nil, err
		}
	}
	if n.lock, err = lockNode(ctx); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if stopErr := n.Stop(); stopErr != nil {
				err = fmt.Errorf("%w\n(and stopping what had started: %v)", err, stopErr)
			}
		}
	}()
	if err := cleanStaleNodes(); err != nil {
		return nil, fmt.Errorf("removing what an earlier node left: %w", err)
	}
	if err := createNodeCgroups(); err != nil {
		return nil, err
	}
	if n.leaveCgroup, err = joinNodeSystemCgroup(); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", nodeDirPrefix)
	if err != nil {
		return nil, err
	}
	n.paths = newNodePaths(dir)
	for _, d := range []string{n.paths.containerdRoot, n.paths.containerdState, n.paths.runc, n.paths.cniConf, n.paths.cniIPAM, n.paths.kubeletRoot, n.paths.podLogs, n.paths.certs} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}

	// Certificates: the API server's address for pods, and the API
	// server's client certificate for the kubelet.
	podCA, err := newNodeCA("headless-guard-node pods' CA")
	if err != nil {
		return nil, err
	}
	svcCert, svcKey, err := podCA.issue("kubernetes",
		[]string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + ClusterDomain},
		[]net.IP{net.ParseIP(nodeServiceIP)})
	if err != nil {
		return nil, err
	}
	kubeletCA, err := newNodeCA("headless-guard-node kubelet client CA")
	if err != nil {
		return nil, err
	}
	clientCert, clientKey, err := kubeletCA.issue(kubeletClientUser, nil, nil)
	if err != nil {
		return nil, err
	}
	certs := n.paths.certs
	if err := writeFiles(map[string][]byte{
		certs + "/pods-ca.crt":              podCA.pem,
		certs + "/kubelet-ca.crt":           kubeletCA.pem,
		certs + "/kubelet-client.crt":       clientCert,
		certs + "/kubelet-client.key":       clientKey,
		n.paths.resolvConf:                  nil,
		n.paths.cniConf + "/10-hg.conflist": []byte(cniConfig(n.paths)),
		n.paths.containerdConfig:            []byte(containerdConfig(n.paths, n.bins["runc"], n.bins["cni"])),
		n.paths.kubeletConfig:               []byte(kubeletConfig(n.paths, certs+"/kubelet-ca.crt")),
	}); err != nil {
		return nil, err
	}

	if err := createBridge(); err != nil {
		return nil, err
	}
	n.bridge = true

	// The control plane, without the webhook configurations of
	// deploy/base (an installation brings its own).
	noWebhooks := filepath.Join(dir, "no-webhooks")
	if err := os.MkdirAll(noWebhooks, 0o700); err != nil {
		return nil, err
	}
	flags := map[string]string{
		"endpoint-reconciler-type":   "none",
		"enable-aggregator-routing":  "true",
		"disable-admission-plugins":  "",
		"kubelet-client-certificate": certs + "/kubelet-client.crt",
		"kubelet-client-key":         certs + "/kubelet-client.key",
		// The kubelet at the node's address: its name resolves nowhere.
		"kubelet-preferred-address-types": "InternalIP",
	}
	for k, v := range opts.APIServerFlags {
		flags[k] = v
	}
	cluster, err := Start(context.Background(), Options{LogDir: opts.LogDir, WebhookPaths: []string{noWebhooks}, APIServerFlags: flags})
	if err != nil {
		return nil, err
	}
	n.Cluster = cluster
	n.logDir = cluster.LogDir()

	proxyLog, err := os.Create(filepath.Join(n.logDir, "api-proxy.log"))
	if err != nil {
		return nil, err
	}
	cluster.logFiles = append(cluster.logFiles, proxyLog)
	if n.proxy, err = startAPIProxy(net.JoinHostPort(nodeServiceIP, "443"), svcCert, svcKey, cluster.cfg.Host, cluster.cfg.CAData, log.New(proxyLog, "", log.LstdFlags)); err != nil {
		return nil, err
	}

	if err := n.startControllers(ctx); err != nil {
		return nil, err
	}
	if err := n.startContainerd(ctx); err != nil {
		return nil, err
	}
	for _, img := range opts.Images {
		if err := n.ImportImage(ctx, img); err != nil {
			return nil, err
		}
	}
	if err := n.startKubelet(ctx); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	go func() {
		select {
		case <-ctx.Done():
			_ = n.Stop()
		case <-n.stopped:
		}
	}()
	return n, nil
}

// startNodeComponent starts the node's binary name with env added to the
// environment.
func (n *Node) startNodeComponent(name string, env []string, args ...string) (*component, error) {
	return n.Cluster.startComponentEnv(name, n.bins[name], env, args...)
}

// startControllers starts CoreDNS on the bridge, kube-controller-manager
// (with the pods' CA as kube-root-ca.crt) and kube-scheduler.
func (n *Node) startControllers(ctx context.Context) error {
	c := n.Cluster
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	kcmAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	schedulerAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
	readyAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2]))
	schedulerConfig := filepath.Join(n.paths.dir, "kube-scheduler.yaml")
	corefile := filepath.Join(n.paths.dir, "Corefile")
	if err := writeFiles(map[string][]byte{
		schedulerConfig: fmt.Appendf(nil, `apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
leaderElection:
  leaderElect: false
`, c.kubeconfig),
		corefile: []byte(nodeCorefile(readyAddr, c.kubeconfig)),
	}); err != nil {
		return err
	}
	kcm, err := n.startNodeComponent("kube-controller-manager", nil,
		"--kubeconfig", c.kubeconfig,
		"--controllers", strings.Join(nodeControllers, ","),
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		"--root-ca-file", n.paths.certs+"/pods-ca.crt",
		"--bind-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(ports[0]),
		"--cert-dir", filepath.Join(n.paths.dir, "kube-controller-manager"),
		"--v", "2")
	if err != nil {
		return err
	}
	n.controllers = append(n.controllers, kcm)
	scheduler, err := n.startNodeComponent("kube-scheduler", nil,
		"--config", schedulerConfig,
		"--bind-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(ports[1]),
		"--cert-dir", filepath.Join(n.paths.dir, "kube-scheduler"),
		"--v", "2")
	if err != nil {
		return err
	}
	n.controllers = append(n.controllers, scheduler)
	if n.coredns, err = n.startNodeComponent("coredns", nil, "-conf", corefile); err != nil {
		return err
	}
	c.dnsAddr = net.JoinHostPort(NodeGatewayIP, "53")

	ctx, cancel := context.WithTimeout(ctx, nodeStartTimeout)
	defer cancel()
	coreDNSReady := ready("http://" + readyAddr + "/ready")
	errs := make(chan error, 3)
	go func() { errs <- kcm.waitUntil(ctx, healthz(kcmAddr)) }()
	go func() { errs <- scheduler.waitUntil(ctx, healthz(schedulerAddr)) }()
	go func() {
		errs <- n.coredns.waitUntil(ctx, func() (bool, error) {
			if ok, err := coreDNSReady(); !ok {
				return false, err
			}
			return c.dnsAnswers(ctx)
		})
	}()
	var all []error
	for range 3 {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// startContainerd starts containerd and waits until it answers.
func (n *Node) startContainerd(ctx context.Context) error {
	path := filepath.Dir(n.bins["containerd-shim-runc-v2"]) + string(os.PathListSeparator) + os.Getenv("PATH")
	var err error
	if n.containerd, err = n.startNodeComponent("containerd", []string{"PATH=" + path},
		"--config", n.paths.containerdConfig, "--log-level", "info"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, nodeStartTimeout)
	defer cancel()
	return n.containerd.waitUntil(ctx, func() (bool, error) {
		if _, err := n.Ctr(ctx, "version"); err != nil {
			return false, err
		}
		return true, nil
	})
}

// Ctr runs ctr against the node's containerd, in the k8s.io namespace
// (the kubelet's), and returns its standard output.
func (n *Node) Ctr(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, n.bins["ctr"], append([]string{"--address", n.paths.containerdSock, "--namespace", "k8s.io"}, args...)...)
	// Not stderr: ctr warns there on every call (cgroup v1's deprecation).
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("ctr %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()+out.String()))
	}
	return out.String(), nil
}

// ImportImage imports an OCI image archive into the node's containerd,
// for this machine's platform, unpacked for the kubelet's snapshotter: as
// a registry pull would leave it.
func (n *Node) ImportImage(ctx context.Context, archive string) error {
	ctx, cancel := context.WithTimeout(ctx, nodeStartTimeout)
	defer cancel()
	if _, err := n.Ctr(ctx, "images", "import", "--snapshotter", "overlayfs", archive); err != nil {
		return fmt.Errorf("importing %s: %w", archive, err)
	}
	return nil
}

// startKubelet starts the kubelet, waits until it has registered the Node
// Ready, and removes the not-ready taint the API server put on it (the
// node-lifecycle controller, which would, is not running).
func (n *Node) startKubelet(ctx context.Context) error {
	c := n.Cluster
	// The API server's client certificate may do anything on the kubelet
	// (kubectl logs, attach, exec).
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "headless-guard-node:kubelet-api-admin"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:kubelet-api-admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: kubeletClientUser}},
	}
	if err := c.client.Create(ctx, binding); err != nil {
		return err
	}
	var err error
	if n.kubelet, err = n.startNodeComponent("kubelet", nil,
		"--config", n.paths.kubeletConfig,
		"--kubeconfig", c.kubeconfig,
		"--root-dir", n.paths.kubeletRoot,
		"--cert-dir", filepath.Join(n.paths.kubeletRoot, "pki"),
		"--hostname-override", RealNodeName,
		"--node-ip", NodeGatewayIP,
		"--v", "2"); err != nil {
		return err
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, nodeStartTimeout)
	defer cancel()
	if err := n.kubelet.waitUntil(ctx, func() (bool, error) { return n.realNodeReady(ctx) }); err != nil {
		return err
	}
	fmt.Fprintf(n.logFile("kubelet.log"), "# headless-guard-node: Ready and schedulable %s after the kubelet started\n", time.Since(start).Round(10*time.Millisecond))
	return nil
}

// logFile opens a component's log for appending (a no-op writer on error).
func (n *Node) logFile(name string) io.Writer {
	f, err := os.OpenFile(filepath.Join(n.logDir, name), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return io.Discard
	}
	n.Cluster.logFiles = append(n.Cluster.logFiles, f)
	return f
}

// realNodeReady reports whether the kubelet's Node is Ready, and then
// removes its taints.
func (n *Node) realNodeReady(ctx context.Context) (bool, error) {
	return readyUntainted(ctx, n.client, RealNodeName)
}

// DumpLogs logs the end of every log of the control plane and the node
// to t.
func (n *Node) DumpLogs(t testing.TB) {
	t.Helper()
	n.Cluster.DumpLogs(t)
	for _, name := range []string{"etcd.log", "api-proxy.log"} {
		p := filepath.Join(n.logDir, name)
		t.Logf("=== %s (end):\n%s", p, tail(readFile(p), 30))
	}
	for _, p := range n.NodeLogs() {
		t.Logf("=== %s (end):\n%s", p, tail(readFile(p), 80))
	}
}

// PodLogDir is where the kubelet writes the pods' container logs.
func (n *Node) PodLogDir() string { return n.paths.podLogs }

// NodeAlive returns an error naming every node process that has exited,
// with the end of its log.
func (n *Node) NodeAlive() error {
	var errs []error
	for _, p := range n.all() {
		if p.exitedEarly() {
			errs = append(errs, fmt.Errorf("%s exited: %v\n%s (end):\n%s", p.name, p.waitErr, p.logPath, tail(readFile(p.logPath), 30)))
		}
	}
	return errors.Join(errs...)
}

// all is every node process, in start order.
func (n *Node) all() []*component {
	var all []*component
	for _, p := range append(slices.Clone(n.controllers), n.coredns, n.containerd, n.kubelet) {
		if p != nil {
			all = append(all, p)
		}
	}
	return all
}

// NodeLogs are the node's log files besides the control plane's.
func (n *Node) NodeLogs() []string {
	var logs []string
	for _, p := range n.all() {
		logs = append(logs, p.logPath)
	}
	return logs
}

// Stop tears the node down in the order that leaves nothing behind, then
// stops the control plane:
//
//  1. kube-controller-manager and kube-scheduler, so that no pod is
//     created again;
//  2. every pod deleted and waited for while the kubelet runs: it stops
//     their containers and sandboxes, and the sandbox's CNI DEL releases
//     the address and removes the veth (a pod left to a stopped kubelet
//     skips the DEL);
//  3. the kubelet, then whatever containers remain (killed through ctr)
//     and containerd; then the shims, which outlive it;
//  4. CoreDNS, the API proxy, the control plane; the mounts, cgroups,
//     bridge and files, and the node lock.
//
// Stop may be called more than once; later calls return the first's result.
func (n *Node) Stop() error {
	n.stopOnce.Do(func() { n.stopErr = n.stop() })
	return n.stopErr
}

func (n *Node) stop() error {
	var errs []error
	for _, p := range n.controllers {
		if err := p.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if n.kubelet != nil && !n.kubelet.exitedEarly() {
		if err := n.drainPods(); err != nil {
			errs = append(errs, err)
		}
	}
	if n.kubelet != nil {
		if err := n.kubelet.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if n.containerd != nil {
		if !n.containerd.exitedEarly() {
			n.killContainers()
		}
		if err := n.containerd.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if n.coredns != nil {
		if err := n.coredns.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	// containerd's shims outlive it (and so would their containers, were
	// any left): everything of the node's directory still running.
	if n.paths.dir != "" {
		if k := killNodeProcesses(n.paths.dir); k > 0 {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if n.proxy != nil {
		if err := n.proxy.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if n.Cluster != nil {
		if err := n.Cluster.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if n.paths.dir != "" {
		if err := unmountUnder(n.paths.dir); err != nil {
			errs = append(errs, err)
		}
		if err := os.RemoveAll(n.paths.dir); err != nil {
			errs = append(errs, err)
		}
	}
	if n.leaveCgroup != nil {
		n.leaveCgroup()
	}
	if n.lock != nil {
		if err := removeNodeCgroups(); err != nil {
			errs = append(errs, err)
		}
		if n.bridge {
			if err := deleteBridge(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := removeFixedState(); err != nil {
			errs = append(errs, err)
		}
		n.lock.Close()
		n.lock = nil
	}
	return errors.Join(errs...)
}

// drainPods deletes every pod and waits until the kubelet has stopped
// them (and their sandboxes: the CNI DEL) and removed them.
func (n *Node) drainPods() error {
	ctx, cancel := context.WithTimeout(context.Background(), nodeDrainTimeout)
	defer cancel()
	var nss corev1.NamespaceList
	if err := n.client.List(ctx, &nss); err != nil {
		return fmt.Errorf("draining the node: %w", err)
	}
	grace := int64(1)
	for _, ns := range nss.Items {
		if err := n.client.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(ns.Name), client.GracePeriodSeconds(grace)); err != nil {
			return fmt.Errorf("deleting the pods of %s: %w", ns.Name, err)
		}
	}
	for {
		var pods corev1.PodList
		err := n.client.List(ctx, &pods)
		if err == nil && len(pods.Items) == 0 {
			break
		}
		if ctx.Err() != nil {
			var names []string
			for _, p := range pods.Items {
				names = append(names, p.Namespace+"/"+p.Name)
			}
			return fmt.Errorf("draining the node: pods not stopped within %s: %v (%v)", nodeDrainTimeout, names, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The sandboxes: the kubelet stops them (CNI DEL) before it removes
	// the pod; wait until none runs.
	for ctx.Err() == nil {
		out, err := n.Ctr(ctx, "tasks", "list", "--quiet")
		if err == nil && strings.TrimSpace(out) == "" {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("draining the node: containers still running after %s", nodeDrainTimeout)
}

// killContainers kills and deletes every task and container left in
// containerd (after a failed drain).
func (n *Node) killContainers() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := n.Ctr(ctx, "tasks", "list", "--quiet")
	if err != nil {
		return
	}
	for _, id := range strings.Fields(out) {
		_, _ = n.Ctr(ctx, "tasks", "kill", "--signal", "SIGKILL", id)
	}
	for _, id := range strings.Fields(out) {
		for range 20 {
			if _, err := n.Ctr(ctx, "tasks", "delete", "--force", id); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}
