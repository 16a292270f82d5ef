package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	// NodeName is the fake Node kwok manages in a full cluster; every pod
	// is scheduled to it.
	NodeName = "kwok-node-0"
	// PodCIDR is the fake Node's pod CIDR, where kwok takes pod IPs from.
	// kwok's default (10.0.0.0/24) is envtest's Service CIDR: a pod IP
	// could equal a ClusterIP and make DNS answers ambiguous.
	PodCIDR = "10.244.0.0/16"
	// ClusterDomain is the zone CoreDNS serves.
	ClusterDomain = "cluster.local"

	// kwokNodeAnnotation selects the Nodes kwok manages (and only those:
	// a Node without it stays untouched).
	kwokNodeAnnotation = "kwok.x-k8s.io/node"

	// componentStartTimeout bounds the wait for the components of a full
	// cluster to serve, all of them at once.
	componentStartTimeout = 90 * time.Second
	// componentStopGrace is how long a component has to exit after SIGTERM.
	componentStopGrace = 15 * time.Second
)

// controllers are the kube-controller-manager controllers a full cluster
// runs: pods for StatefulSets and Deployments, the EndpointSlices DNS is
// made of, and the garbage collector so that deleting a workload deletes
// its pods.
var controllers = []string{
	"statefulset-controller",
	"replicaset-controller",
	"deployment-controller",
	"endpointslice-controller",
	"garbage-collector-controller",
}

// fullBinaries are the binaries a full cluster needs besides the envtest
// ones; kwok-stages is the directory of kwok's Stage files.
var fullBinaries = []string{"kube-controller-manager", "kube-scheduler", "kwok", "coredns", "kwok-stages"}

// component is one process of a full cluster.
type component struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	// done is closed once the process has exited; waitErr is then set.
	done     chan struct{}
	waitErr  error
	mu       sync.Mutex
	stopping bool
	stopOnce sync.Once
	stopErr  error
}

// componentPath finds a binary (or kwok-stages) of a full cluster in
// KUBEBUILDER_ASSETS, then in <root>/bin: an assets directory from
// setup-envtest holds only the envtest binaries.
func (c *Cluster) componentPath(name string) (string, error) {
	dirs := []string{c.assets}
	if own := filepath.Join(c.root, "bin"); own != c.assets {
		dirs = append(dirs, own)
	}
	for _, dir := range dirs {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in %s: run `make -f hack/tools.mk bin/%s` (or `make tools`)", name, strings.Join(dirs, " or "), name)
}

// startFull starts kube-controller-manager, kube-scheduler, kwok and
// CoreDNS against the running control plane, creates the fake Node, and
// waits until each serves: both managers answer /healthz, kwok has made
// the Node Ready, and CoreDNS has synced with the API (/ready) and answers
// on its port.
func (c *Cluster) startFull(ctx context.Context, dnsPort int) error {
	bins := map[string]string{}
	for _, name := range fullBinaries {
		p, err := c.componentPath(name)
		if err != nil {
			return err
		}
		bins[name] = p
	}
	stages, err := filepath.Glob(filepath.Join(bins["kwok-stages"], "*.yaml"))
	if err != nil || len(stages) == 0 {
		return fmt.Errorf("no kwok Stage files in %s (err %v): run `make -f hack/tools.mk bin/kwok-stages`", bins["kwok-stages"], err)
	}
	if c.configDir, err = os.MkdirTemp("", "headless-guard-components-"); err != nil {
		return err
	}
	c.watchdog.removeOnDeath(c.configDir)
	if dnsPort == 0 {
		if dnsPort, err = freeDNSPort(); err != nil {
			return err
		}
	}
	c.dnsAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(dnsPort))
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	kcmAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	schedulerAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
	readyAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2]))

	if err := c.client.Create(ctx, fakeNode()); err != nil {
		return fmt.Errorf("creating the fake Node %s: %w", NodeName, err)
	}

	schedulerConfig := filepath.Join(c.configDir, "kube-scheduler.yaml")
	corefile := filepath.Join(c.configDir, "Corefile")
	files := map[string]string{
		schedulerConfig: fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
  qps: 200
  burst: 400
leaderElection:
  leaderElect: false
`, c.kubeconfig),
		corefile: corefileFor("127.0.0.1", dnsPort, readyAddr, c.kubeconfig),
	}
	for path, content := range files {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			return err
		}
	}

	kwokArgs := []string{
		"--kubeconfig", c.kubeconfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector", kwokNodeAnnotation + "=fake",
		"--cidr", PodCIDR,
	}
	for _, s := range stages {
		kwokArgs = append(kwokArgs, "--config", s)
	}
	specs := []struct {
		name string
		args []string
	}{
		{"kube-controller-manager", []string{
			"--kubeconfig", c.kubeconfig,
			"--controllers", strings.Join(controllers, ","),
			"--leader-elect=false",
			"--use-service-account-credentials=false",
			"--bind-address", "127.0.0.1",
			"--secure-port", strconv.Itoa(ports[0]),
			"--cert-dir", filepath.Join(c.configDir, "kube-controller-manager"),
			"--kube-api-qps", "200",
			"--kube-api-burst", "400",
			"--v", "2",
		}},
		{"kube-scheduler", []string{
			"--config", schedulerConfig,
			"--bind-address", "127.0.0.1",
			"--secure-port", strconv.Itoa(ports[1]),
			"--cert-dir", filepath.Join(c.configDir, "kube-scheduler"),
			"--v", "2",
		}},
		{"kwok", kwokArgs},
		{"coredns", []string{"-conf", corefile}},
	}
	for _, s := range specs {
		p, err := c.startComponent(s.name, bins[s.name], s.args...)
		if err != nil {
			return err
		}
		c.components = append(c.components, p)
	}

	ctx, cancel := context.WithTimeout(ctx, componentStartTimeout)
	defer cancel()
	coreDNSReady := ready("http://" + readyAddr + "/ready")
	waits := map[string]func() (bool, error){
		"kube-controller-manager": healthz(kcmAddr),
		"kube-scheduler":          healthz(schedulerAddr),
		"kwok":                    func() (bool, error) { return c.nodeReady(ctx) },
		// Not "does kubernetes.default resolve": the API server creates
		// that Service through the webhooks, which may not be served yet.
		"coredns": func() (bool, error) {
			if ok, err := coreDNSReady(); !ok {
				return false, err
			}
			return c.dnsAnswers(ctx)
		},
	}
	errs := make([]error, len(c.components))
	var wg sync.WaitGroup
	for i, p := range c.components {
		wg.Go(func() { errs[i] = p.waitUntil(ctx, waits[p.name]) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// fakeNode is the Node kwok manages. Its status (Ready, capacity, pods
// 1M) comes from kwok's node-initialize stage.
func fakeNode() *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        NodeName,
			Annotations: map[string]string{kwokNodeAnnotation: "fake"},
			Labels: map[string]string{
				"kubernetes.io/hostname": NodeName,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
				"type":                   "kwok",
			},
		},
		Spec: corev1.NodeSpec{PodCIDR: PodCIDR, PodCIDRs: []string{PodCIDR}},
	}
}

// nodeReady reports whether kwok has made the fake Node Ready, and then
// removes the node.kubernetes.io/not-ready taint the API server's
// TaintNodesByCondition admission put on it at creation: without the
// node-lifecycle controller (which would also want heartbeats) nothing
// else would, and the scheduler would place no pod.
func (c *Cluster) nodeReady(ctx context.Context) (bool, error) {
	return readyUntainted(ctx, c.client, NodeName)
}

// readyUntainted reports whether Node name is Ready, and then removes its
// taints (the fake node's and the real node's alike: no node-lifecycle
// controller runs to remove them).
func readyUntainted(ctx context.Context, cl client.Client, name string) (bool, error) {
	var node corev1.Node
	if err := cl.Get(ctx, client.ObjectKey{Name: name}, &node); err != nil {
		return false, err
	}
	if !slices.ContainsFunc(node.Status.Conditions, func(cond corev1.NodeCondition) bool {
		return cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue
	}) {
		return false, fmt.Errorf("node %s is not Ready yet: %+v", name, node.Status.Conditions)
	}
	if len(node.Spec.Taints) == 0 {
		return true, nil
	}
	node.Spec.Taints = nil
	if err := cl.Update(ctx, &node); err != nil {
		return false, fmt.Errorf("removing the taints of node %s: %w", name, err)
	}
	return true, nil
}

// dnsAnswers reports whether CoreDNS answers a query in its zone (that
// the name does not exist is an answer).
func (c *Cluster) dnsAnswers(ctx context.Context) (bool, error) {
	_, err := c.Resolver().LookupHost(ctx, "headless-guard-probe.default.svc."+ClusterDomain+".")
	var dnsErr *net.DNSError
	if err == nil || errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return true, nil
	}
	return false, fmt.Errorf("asking %s: %w", c.dnsAddr, err)
}

// healthz polls https://addr/healthz, which both managers serve to
// anyone over a self-signed certificate.
func healthz(addr string) func() (bool, error) { return ready("https://" + addr + "/healthz") }

// ready polls url until it answers 200.
func ready(url string) func() (bool, error) {
	hc := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
	}
	return func() (bool, error) {
		resp, err := hc.Get(url)
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Errorf("%s: %s", url, resp.Status)
		}
		return true, nil
	}
}

// startComponent starts bin in a process group of its own, writing to
// <LogDir>/<name>.log.
func (c *Cluster) startComponent(name, bin string, args ...string) (*component, error) {
	return c.startComponentEnv(name, bin, nil, args...)
}

// startComponentEnv is startComponent with env added to the environment.
func (c *Cluster) startComponentEnv(name, bin string, env []string, args ...string) (*component, error) {
	logPath := filepath.Join(c.logDir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(logFile, "# %s %s\n", bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	p := &component{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	pid := cmd.Process.Pid
	c.watchdog.watch(pid)
	go func() {
		p.waitErr = cmd.Wait()
		c.watchdog.unwatch(pid)
		logFile.Close()
		close(p.done)
	}()
	return p, nil
}

// waitUntil polls ready until it reports true, the process exits or ctx
// ends; errors name the component and end with its log.
func (p *component) waitUntil(ctx context.Context, ready func() (bool, error)) error {
	for {
		ok, err := ready()
		if ok {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited while starting: %v\n%s (end):\n%s", p.name, p.waitErr, p.logPath, tail(readFile(p.logPath), 30))
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.Canceled) {
				return ctx.Err()
			}
			return fmt.Errorf("%s: not serving within %s (last error: %v)\n%s (end):\n%s", p.name, componentStartTimeout, err, p.logPath, tail(readFile(p.logPath), 30))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM to the process group and SIGKILL after
// componentStopGrace. It reports a process that had exited before it was
// told to (a crash the tests may not have noticed) or had to be killed.
func (p *component) stop() error {
	p.stopOnce.Do(func() {
		p.mu.Lock()
		p.stopping = true
		p.mu.Unlock()
		select {
		case <-p.done:
			p.stopErr = fmt.Errorf("%s had exited before the cluster stopped: %v (log: %s)", p.name, p.waitErr, p.logPath)
			return
		default:
		}
		pgid := p.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(componentStopGrace):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.done
			p.stopErr = fmt.Errorf("%s did not exit within %s of SIGTERM; killed", p.name, componentStopGrace)
		}
	})
	return p.stopErr
}

// exitedEarly reports whether the process ended without being stopped.
func (p *component) exitedEarly() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return !p.stopping
	default:
		return false
	}
}

// stopComponents stops every component at once.
func (c *Cluster) stopComponents() error {
	errs := make([]error, len(c.components))
	var wg sync.WaitGroup
	for i, p := range c.components {
		wg.Go(func() { errs[i] = p.stop() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// freeDNSPort returns a local port that was free for both UDP and TCP a
// moment ago: CoreDNS serves both, and a client retries a truncated UDP
// answer over TCP.
func freeDNSPort() (int, error) {
	ports, err := FreePorts(1, true)
	if err != nil {
		return 0, err
	}
	return ports[0], nil
}

// Full reports whether the cluster runs the components of Options.Full.
func (c *Cluster) Full() bool { return c.dnsAddr != "" }

// DNSAddr is CoreDNS's address (127.0.0.1:PORT, UDP and TCP) in a full
// cluster, or "".
func (c *Cluster) DNSAddr() string { return c.dnsAddr }

// Resolver is a pure-Go resolver that sends every query to the cluster's
// CoreDNS. Give it absolute names ("web-0.nginx.default.svc.cluster.local."):
// relative ones go through the search list of /etc/resolv.conf first.
// A name CoreDNS does not know fails with a *net.DNSError whose
// IsNotFound is true.
func (c *Cluster) Resolver() *net.Resolver {
	addr := c.dnsAddr
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
}

// componentLogs are the log files of the components, in start order.
func (c *Cluster) componentLogs() []string {
	var logs []string
	for _, p := range c.components {
		logs = append(logs, p.logPath)
	}
	return logs
}

// ComponentsAlive returns an error naming every component of a full
// cluster that has exited, with the end of its log.
func (c *Cluster) ComponentsAlive() error {
	var errs []error
	for _, p := range c.components {
		if p.exitedEarly() {
			errs = append(errs, fmt.Errorf("%s exited: %v\n%s (end):\n%s", p.name, p.waitErr, p.logPath, tail(readFile(p.logPath), 30)))
		}
	}
	return errors.Join(errs...)
}

// dnsPortFree reports an error when port is taken for UDP or TCP on
// 127.0.0.1.
func dnsPortFree(port int) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("DNS port %d is not free (another `make run`?): %w", port, err)
	}
	l.Close()
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("DNS port %d is not free (another `make run`?): %w", port, err)
	}
	u.Close()
	return nil
}

// corefileFor is CoreDNS serving the cluster's zone on bind:port, as kubeadm
// configures it minus the cache (an answer must follow the API at once),
// the forwarder (no upstream here) and health; plus log, every query and
// its answer for DumpLogs.
func corefileFor(bind string, port int, readyAddr, kubeconfig string) string {
	return fmt.Sprintf(`.:%d {
    bind %s
    errors
    log
    ready %s
    kubernetes %s in-addr.arpa ip6.arpa {
        kubeconfig %q
        pods insecure
    }
}
`, port, bind, readyAddr, ClusterDomain, kubeconfig)
}
