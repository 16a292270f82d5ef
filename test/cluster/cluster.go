package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// modulePath identifies the repository root among the go.mod files above
// the working directory (hack/tools holds go.mod files of its own).
const modulePath = "github.com/headless-guard/headless-guard"

// startTimeout bounds the start of etcd and of kube-apiserver each. envtest's
// default of 20s is too tight on a loaded two-core machine; the environment
// variable KUBEBUILDER_CONTROLPLANE_START_TIMEOUT still wins.
const startTimeout = 90 * time.Second

// Options configures Start. The zero value is a cluster for one test.
type Options struct {
	// WebhookPaths are the files or directories holding the webhook
	// configurations to register. Default: <root>/deploy/base/webhooks.yaml.
	WebhookPaths []string
	// WebhookPort is the local port the configurations point at
	// (https://127.0.0.1:PORT/<path>). 0 picks a free port.
	WebhookPort int
	// KubeconfigPath is where the admin kubeconfig is written, for kubectl
	// and the guard. Default: a file in a temporary directory.
	KubeconfigPath string
	// LogDir receives kube-apiserver.log, etcd.log and guard-N.log (and,
	// with Full, one log per component). It is kept after Stop. Default: a
	// temporary directory, removed by Stop.
	LogDir string
	// Full makes the control plane a small cluster whose DNS answers as a
	// real one's (see startFull): kube-controller-manager (StatefulSet,
	// ReplicaSet, Deployment, EndpointSlice and garbage collector
	// controllers), kube-scheduler, kwok running pods on the fake Node
	// NodeName with IPs from PodCIDR, and CoreDNS serving ClusterDomain
	// from the API on 127.0.0.1. Their binaries come from
	// KUBEBUILDER_ASSETS or <root>/bin (`make tools`).
	Full bool
	// DNSPort is CoreDNS's UDP and TCP port on 127.0.0.1 with Full. 0
	// picks a free port.
	DNSPort int
	// APIServerFlags are set on kube-apiserver's command line on top of
	// envtest's, e.g. "admission-control-config-file" or
	// "enable-admission-plugins".
	APIServerFlags map[string]string
}

// Cluster is a running etcd and kube-apiserver with the webhook
// configurations registered, and at most one running guard.
type Cluster struct {
	root, assets string
	env          *envtest.Environment
	cfg          *rest.Config
	client       client.Client
	kubeconfig   string
	logDir       string
	// tempDir holds the defaulted kubeconfig and logs; Stop removes it.
	tempDir  string
	logFiles []*os.File
	watchdog *watchdog

	// With Options.Full: the running components, their configuration
	// files (removed by Stop) and CoreDNS's address.
	components []*component
	configDir  string
	dnsAddr    string

	// mu guards guard, guardRuns and closed; a Guard's own lock is taken
	// after it.
	mu        sync.Mutex
	guard     *Guard
	guardRuns int
	// closed is set when stopping starts: no guard may start after it.
	closed bool
	stopMu sync.Mutex
	// stopped is closed when Stop has finished.
	stopped  chan struct{}
	stopping bool
	stopErr  error
}

// Start starts etcd and kube-apiserver, registers the webhook
// configurations and writes an admin kubeconfig. Everything it starts is
// stopped by Stop or when ctx ends; Stop waits for that either way.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	c := &Cluster{root: root, assets: AssetsDir(root), stopped: make(chan struct{})}
	for _, name := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(c.assets, name)); err != nil {
			return nil, fmt.Errorf("control plane binary %s not found in %s (KUBEBUILDER_ASSETS or <repo>/bin): run `make envtest-assets`: %w", name, c.assets, err)
		}
	}
	if opts.Full && opts.DNSPort != 0 {
		// CoreDNS would only exit with the reason in its log.
		if err := dnsPortFree(opts.DNSPort); err != nil {
			return nil, err
		}
	}
	if opts.WebhookPort != 0 {
		// envtest does not bind the port; a guard that cannot would only
		// fail later with the reason buried in its log.
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.WebhookPort)))
		if err != nil {
			return nil, fmt.Errorf("webhook port %d is not free (another `make run`?): %w", opts.WebhookPort, err)
		}
		l.Close()
	}
	if opts.WebhookPort == 0 {
		// envtest would pick one from the ephemeral range (see FreePorts).
		ports, err := FreePorts(1, false)
		if err != nil {
			return nil, err
		}
		opts.WebhookPort = ports[0]
	}
	if len(opts.WebhookPaths) == 0 {
		opts.WebhookPaths = []string{filepath.Join(root, "deploy", "base", "webhooks.yaml")}
	}
	mutating, validating, err := readWebhooks(opts.WebhookPaths, "127.0.0.1", opts.WebhookPort)
	if err != nil {
		return nil, fmt.Errorf("reading the webhook configurations: %w", err)
	}

	c.watchdog = startWatchdog()
	ok := false
	defer func() {
		if !ok {
			c.cleanup()
		}
	}()

	if opts.LogDir == "" || opts.KubeconfigPath == "" {
		if c.tempDir, err = os.MkdirTemp("", "headless-guard-cluster-"); err != nil {
			return nil, err
		}
		c.watchdog.removeOnDeath(c.tempDir)
	}
	c.logDir = opts.LogDir
	if c.logDir == "" {
		c.logDir = filepath.Join(c.tempDir, "logs")
	}
	if err := os.MkdirAll(c.logDir, 0o755); err != nil {
		return nil, err
	}
	c.kubeconfig = opts.KubeconfigPath
	if c.kubeconfig == "" {
		c.kubeconfig = filepath.Join(c.tempDir, "kubeconfig")
	}
	if c.kubeconfig, err = filepath.Abs(c.kubeconfig); err != nil {
		return nil, err
	}
	apiserverLog, err := c.createLog("kube-apiserver.log")
	if err != nil {
		return nil, err
	}
	etcdLog, err := c.createLog("etcd.log")
	if err != nil {
		return nil, err
	}

	c.env = &envtest.Environment{
		ControlPlane: envtest.ControlPlane{
			APIServer:   &envtest.APIServer{Path: filepath.Join(c.assets, "kube-apiserver"), Out: apiserverLog, Err: apiserverLog},
			Etcd:        &envtest.Etcd{Path: filepath.Join(c.assets, "etcd"), Out: etcdLog, Err: etcdLog},
			KubectlPath: filepath.Join(c.assets, "kubectl"),
		},
		BinaryAssetsDirectory: c.assets,
		WebhookInstallOptions: envtest.WebhookInstallOptions{
			// Read here rather than from Paths: see readWebhooks.
			MutatingWebhooks:   mutating,
			ValidatingWebhooks: validating,
			LocalServingHost:   "127.0.0.1",
			LocalServingPort:   opts.WebhookPort,
		},
	}
	for k, v := range opts.APIServerFlags {
		c.env.ControlPlane.APIServer.Configure().Set(k, v)
	}
	if os.Getenv("KUBEBUILDER_CONTROLPLANE_START_TIMEOUT") == "" {
		c.env.ControlPlaneStartTimeout = startTimeout
	}
	_, err = c.env.Start()
	// Registered even on failure: envtest may have left processes running.
	c.watchdog.adoptChildren()
	c.watchdog.removeOnDeath(c.env.ControlPlane.Etcd.DataDir, c.env.ControlPlane.APIServer.CertDir, c.env.WebhookInstallOptions.LocalServingCertDir)
	if err != nil {
		// The log directory may be temporary and gone by the time anyone looks.
		return nil, fmt.Errorf("starting the control plane: %w\nkube-apiserver.log:\n%s\netcd.log:\n%s",
			err, tail(readFile(apiserverLog.Name()), 20), tail(readFile(etcdLog.Name()), 10))
	}

	admin, err := c.env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, &rest.Config{QPS: 1000, Burst: 2000})
	if err != nil {
		return nil, fmt.Errorf("provisioning the admin user: %w", err)
	}
	c.cfg = admin.Config()
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(c.kubeconfig), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(c.kubeconfig, kubeconfig, 0o600); err != nil {
		return nil, err
	}
	if c.client, err = client.New(c.cfg, client.Options{}); err != nil {
		return nil, err
	}
	if opts.Full {
		if err := c.startFull(ctx, opts.DNSPort); err != nil {
			return nil, fmt.Errorf("starting the cluster components (logs in %s): %w", c.logDir, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	ok = true
	go func() {
		select {
		case <-ctx.Done():
			_ = c.Stop()
		case <-c.stopped:
		}
	}()
	return c, nil
}

func (c *Cluster) createLog(name string) (*os.File, error) {
	f, err := os.Create(filepath.Join(c.logDir, name))
	if err != nil {
		return nil, err
	}
	c.logFiles = append(c.logFiles, f)
	return f, nil
}

// Stop stops the guard, the components of a full cluster, kube-apiserver
// and etcd, and removes their data and the defaulted temporary files. It
// may be called more than once and from several goroutines; every call
// returns once everything is stopped.
func (c *Cluster) Stop() error {
	c.stopMu.Lock()
	if c.stopping {
		c.stopMu.Unlock()
		<-c.stopped
		return c.stopErr
	}
	c.stopping = true
	c.stopMu.Unlock()
	c.stopErr = c.cleanup()
	close(c.stopped)
	return c.stopErr
}

func (c *Cluster) cleanup() error {
	var errs []error
	c.mu.Lock()
	c.closed = true
	g := c.guard
	c.mu.Unlock()
	if g != nil {
		if err := g.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	// Before the API server: the components would only log its absence.
	if err := c.stopComponents(); err != nil {
		errs = append(errs, err)
	}
	if c.configDir != "" {
		if err := os.RemoveAll(c.configDir); err != nil {
			errs = append(errs, err)
		}
	}
	if c.env != nil {
		if err := c.env.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("stopping the control plane: %w", err))
		}
	}
	for _, f := range c.logFiles {
		f.Close()
	}
	if c.tempDir != "" {
		if err := os.RemoveAll(c.tempDir); err != nil {
			errs = append(errs, err)
		}
	}
	c.watchdog.release()
	return errors.Join(errs...)
}

// Config is the admin REST config.
func (c *Cluster) Config() *rest.Config { return rest.CopyConfig(c.cfg) }

// Client is a controller-runtime client acting as the admin user, with
// client-go's scheme (every built-in kind).
func (c *Cluster) Client() client.Client { return c.client }

// KubeconfigPath is the absolute path of the admin kubeconfig.
func (c *Cluster) KubeconfigPath() string { return c.kubeconfig }

// WebhookPort is the local port the webhook configurations point at.
func (c *Cluster) WebhookPort() int { return c.env.WebhookInstallOptions.LocalServingPort }

// WebhookCertDir holds tls.crt and tls.key, the serving certificate the
// registered caBundle trusts (for 127.0.0.1 and localhost).
func (c *Cluster) WebhookCertDir() string { return c.env.WebhookInstallOptions.LocalServingCertDir }

// WebhookCA is the PEM CA bundle registered in the webhook configurations.
func (c *Cluster) WebhookCA() []byte {
	return bytes.Clone(c.env.WebhookInstallOptions.LocalServingCAData)
}

// LogDir is where kube-apiserver.log, etcd.log, guard-N.log and the logs of
// a full cluster's components are written.
func (c *Cluster) LogDir() string { return c.logDir }

// Root is the repository root.
func (c *Cluster) Root() string { return c.root }

// KubectlPath is the kubectl binary Kubectl runs.
func (c *Cluster) KubectlPath() string { return filepath.Join(c.assets, "kubectl") }

// Guard is the running guard, or nil.
func (c *Cluster) Guard() *Guard {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.guard
}

func (c *Cluster) guardRunCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.guardRuns
}

// Kubectl runs the real kubectl as the admin user with stdin (nil for
// none). A non-zero exit returns an error that wraps *exec.ExitError and
// ends with kubectl's stderr.
func (c *Cluster) Kubectl(ctx context.Context, stdin []byte, args ...string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, c.KubectlPath(), append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), errOut.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), errOut.String(), nil
}

// RepoRoot is the nearest directory at or above the working directory whose
// go.mod declares this module.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && modFileDeclares(data, modulePath) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod for %s at or above the working directory", modulePath)
		}
		dir = parent
	}
}

func modFileDeclares(data []byte, module string) bool {
	for line := range strings.Lines(string(data)) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == module
		}
	}
	return false
}

// AssetsDir is where kube-apiserver, etcd and kubectl are taken from:
// KUBEBUILDER_ASSETS when set, else <root>/bin.
func AssetsDir(root string) string {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	return filepath.Join(root, "bin")
}
