package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/headless-guard/headless-guard/test/cluster"
)

const (
	// guardNamespace is where the chart is installed, as docs/deploy.md
	// installs it.
	guardNamespace = "headless-guard-system"
	// toolboxImage is hack/tools/nodeimages' toolbox: the seeds' nslookup
	// and a web server in place of nginx.
	toolboxImage = "headless-guard.test/toolbox:v1"
	// installTimeout bounds the wait for the chart's two replicas to be
	// Ready, on a machine at load 10+.
	installTimeout = 5 * time.Minute
	// podTimeout bounds the wait for a workload's pods.
	podTimeout = 3 * time.Minute
)

var (
	// node is the cluster every test of the package shares, nil when
	// skipReason says why there is none.
	node       *cluster.Node
	skipReason string
	// guardImage is the reference of the headless-guard image the chart
	// runs (from the archive `make image` built).
	guardImage string
	// firstReady is what the API server answered at the moment the
	// guard's first replica turned Ready (TestReadyOnlyOnceTheCacheSynced).
	firstReady readyCheck
)

func TestMain(m *testing.M) {
	ctrllog.SetLogger(logr.Discard())
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if skipReason = cluster.NodeUnavailable(); skipReason != "" {
		fmt.Println("node: skipped:", skipReason)
		return m.Run()
	}
	root, err := cluster.RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		return 1
	}
	images, err := imageArchives(root)
	if err != nil {
		skipReason = err.Error()
		fmt.Println("node: skipped:", skipReason)
		return m.Run()
	}
	logDir, err := os.MkdirTemp("", "headless-guard-node-logs-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "node:", err)
		return 1
	}
	start := time.Now()
	n, err := cluster.StartNode(context.Background(), cluster.NodeOptions{LogDir: logDir, Images: images})
	if err != nil {
		fmt.Fprintf(os.Stderr, "node: %v\nnode: logs kept in %s\n", err, logDir)
		return 1
	}
	node = n
	up := time.Since(start)
	if err := install(root); err != nil {
		fmt.Fprintf(os.Stderr, "node: installing the chart: %v\n", err)
		dumpAll()
		n.Stop()
		fmt.Fprintf(os.Stderr, "node: logs kept in %s\n", logDir)
		return 1
	}
	fmt.Printf("node: control plane and node Ready in %s; the chart's two replicas Ready %s later\n",
		up.Round(100*time.Millisecond), (time.Since(start) - up).Round(100*time.Millisecond))

	// For a look at the running node: HEADLESS_GUARD_NODE_HOLD=FILE
	// creates FILE holding the kubeconfig's path and holds the node
	// (before the tests) until FILE is removed.
	if hold := os.Getenv("HEADLESS_GUARD_NODE_HOLD"); hold != "" {
		if err := os.WriteFile(hold, []byte(n.KubeconfigPath()+"\n"), 0o600); err == nil {
			fmt.Printf("node: held until %s is removed (KUBECONFIG=%s)\n", hold, n.KubeconfigPath())
			for _, err := os.Stat(hold); err == nil; _, err = os.Stat(hold) {
				time.Sleep(time.Second)
			}
		}
	}

	code := m.Run()

	if err := errors.Join(n.ComponentsAlive(), n.NodeAlive()); err != nil {
		fmt.Fprintf(os.Stderr, "node: a component died during the tests: %v\n", err)
		code = 1
	}
	stopping := time.Now()
	if err := n.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "node: stopping: %v\n", err)
		code = 1
	}
	fmt.Printf("node: stopped and cleaned up in %s\n", time.Since(stopping).Round(100*time.Millisecond))
	if code != 0 {
		fmt.Fprintf(os.Stderr, "node: logs kept in %s\n", logDir)
	} else {
		os.RemoveAll(logDir)
	}
	return code
}

// imageArchives are the archives imported into containerd: the pause and
// toolbox images (bin/node-images, `make node-tools`) and headless-guard's
// (HEADLESS_GUARD_IMAGE, else bin/image/headless-guard-image.tar from
// `make image`). It sets guardImage from the latter.
func imageArchives(root string) ([]string, error) {
	nodeImages, err := cluster.FindAsset(root, "node-images")
	if err != nil {
		return nil, fmt.Errorf("the node's images are not built: `make e2e-node` (or `make node-tools`)")
	}
	guard := os.Getenv("HEADLESS_GUARD_IMAGE")
	if guard == "" {
		guard = filepath.Join(root, "bin", "image", "headless-guard-image.tar")
	}
	if _, err := os.Stat(guard); err != nil {
		return nil, fmt.Errorf("no headless-guard image at %s: `make e2e-node` (or `make image`) builds it", guard)
	}
	if guardImage, err = archiveImageName(guard); err != nil {
		return nil, err
	}
	return []string{filepath.Join(nodeImages, "pause.tar"), filepath.Join(nodeImages, "toolbox.tar"), guard}, nil
}

// archiveImageName is the name `ctr images import` gives the image of an
// OCI layout archive: its index's io.containerd.image.name.
func archiveImageName(archive string) (string, error) {
	out, err := exec.Command("tar", "-xOf", archive, "index.json").Output()
	if err != nil {
		return "", fmt.Errorf("reading index.json of %s: %w", archive, err)
	}
	var index struct {
		Manifests []struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(out, &index); err != nil {
		return "", fmt.Errorf("%s: index.json: %w", archive, err)
	}
	for _, m := range index.Manifests {
		if name := m.Annotations["io.containerd.image.name"]; name != "" {
			return name, nil
		}
	}
	return "", fmt.Errorf("%s names no image (io.containerd.image.name)", archive)
}

// setup returns the shared node for a test, or skips it; it dumps every
// log when the test fails.
func setup(t *testing.T) *cluster.Node {
	t.Helper()
	if node == nil {
		t.Skip(skipReason)
	}
	t.Cleanup(func() {
		if t.Failed() {
			node.DumpLogs(t)
			out, _, _ := kubectl(nil, "get", "nodes,pods,services,endpointslices", "-A", "-o", "wide")
			t.Logf("=== kubectl get -A:\n%s", out)
			t.Logf("=== the guard's logs:\n%s", guardLogs())
		}
	})
	return node
}

// dumpAll prints what setup's failures print, for TestMain.
func dumpAll() {
	for _, p := range node.NodeLogs() {
		fmt.Fprintf(os.Stderr, "=== %s (end):\n%s\n", p, tailLines(p, 40))
	}
	for _, name := range []string{"kube-apiserver.log", "api-proxy.log"} {
		p := filepath.Join(node.LogDir(), name)
		fmt.Fprintf(os.Stderr, "=== %s (end):\n%s\n", p, tailLines(p, 40))
	}
	out, _, _ := kubectl(nil, "get", "nodes,pods,services,endpointslices,events", "-A", "-o", "wide")
	fmt.Fprintf(os.Stderr, "=== kubectl get -A:\n%s\n", out)
	out, _, _ = kubectl(nil, "describe", "pods", "-n", guardNamespace)
	fmt.Fprintf(os.Stderr, "=== kubectl describe pods -n %s:\n%s\n", guardNamespace, out)
	fmt.Fprintf(os.Stderr, "=== the guard's logs:\n%s\n", guardLogs())
}

// guardLogs are the last lines of every guard container's log, and of
// the run before a restart.
func guardLogs() string {
	var b strings.Builder
	for _, previous := range []string{"--previous=false", "--previous=true"} {
		out, errOut, _ := kubectl(nil, "logs", "-n", guardNamespace, "-l", "app.kubernetes.io/name=headless-guard", "--prefix", "--tail=40", previous)
		fmt.Fprintf(&b, "kubectl logs %s:\n%s%s\n", previous, out, errOut)
	}
	return b.String()
}

func tailLines(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// kubectl runs the real kubectl as the admin user.
func kubectl(stdin []byte, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return node.Kubectl(ctx, stdin, args...)
}
