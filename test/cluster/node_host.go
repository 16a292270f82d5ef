package cluster

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The parts of a Node on the host. Some state lands at fixed paths
// whatever the configuration says (containerd's shim sockets in
// /run/containerd/s, libcni's cache in /var/lib/cni, the kubelet's
// /var/log/containers links and /var/lib/kubelet/device-plugins, ports
// 10250 and 10248, the bridge and the Service address below): one node at
// a time per machine, under nodeLockPath, and whatever a node killed
// mid-run left is removed by the next one before it starts.
const (
	// NodeBridge is the Linux bridge every pod's veth is attached to.
	NodeBridge = "hg-node0"
	// NodeGatewayIP is the bridge's address on the pods' subnet: the
	// node's InternalIP, the kubelet's and CoreDNS's address for pods.
	NodeGatewayIP = "10.245.0.1"
	// NodePodSubnet is where pod IPs come from (host-local IPAM). It
	// differs from PodCIDR, where kwok's fake pods take theirs.
	NodePodSubnet = "10.245.0.0/24"
	// nodeServiceIP is the cluster IP of Service default/kubernetes, the
	// first address of envtest's --service-cluster-ip-range 10.0.0.0/24:
	// the address pods reach the API server at (apiProxy). The bridge
	// holds it; the pods route only it through the node (no default
	// route), and nothing answers for any other cluster IP (no
	// kube-proxy).
	nodeServiceIP = "10.0.0.1"

	// nodeLockPath serializes nodes on a machine.
	nodeLockPath = "/run/headless-guard-node.lock"
	// nodeDirPrefix names the temporary directory of a node's state;
	// a leftover one (and its mounts and shims) is found by it.
	nodeDirPrefix = "headless-guard-node-"
	// nodeCNINetwork is the CNI network's name.
	nodeCNINetwork = "headless-guard-node"
	// nodeCgroupRoot is the kubelet's cgroup root in every hierarchy.
	nodeCgroupRoot = "headless-guard-node"
)

// NodeBinaries are the node's binaries besides the control plane's, as
// found in KUBEBUILDER_ASSETS or <root>/bin (`make node-tools`); cni is
// the directory of the CNI plugins.
var NodeBinaries = []string{"kubelet", "containerd", "ctr", "containerd-shim-runc-v2", "runc", "cni"}

// nodeCNIPlugins are the plugins the network configuration uses.
var nodeCNIPlugins = []string{"bridge", "host-local", "loopback", "portmap"}

// NodeUnavailable says in one line why this machine cannot run a Node, or
// returns "" when it can: Linux, root, cgroups (v1 or v2), overlayfs,
// network namespaces, iproute2's ip, and the node's binaries built (runc
// with libseccomp). Tests skip with the reason.
func NodeUnavailable() string {
	if runtime.GOOS != "linux" {
		return "a real node needs Linux (kubelet, containerd, runc); this is " + runtime.GOOS
	}
	if os.Geteuid() != 0 {
		return "a real node needs root (containerd, runc, network namespaces and a bridge); run `sudo make e2e-node`"
	}
	if !cgroupsMounted() {
		return "a real node needs cgroups: neither /sys/fs/cgroup/cgroup.controllers (v2) nor /sys/fs/cgroup/memory (v1) exists"
	}
	if fs, err := os.ReadFile("/proc/filesystems"); err != nil || !strings.Contains(string(fs), "\toverlay\n") {
		return "a real node needs overlayfs (containerd's snapshotter): no overlay in /proc/filesystems (modprobe overlay)"
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		return "a real node needs network namespaces: no /proc/self/ns/net"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "a real node needs iproute2's ip for its bridge (apt-get install -y iproute2)"
	}
	root, err := RepoRoot()
	if err != nil {
		return err.Error()
	}
	for _, name := range NodeBinaries {
		p, err := FindAsset(root, name)
		if err != nil {
			if name == "runc" {
				return "bin/runc not built: it needs libseccomp-dev (apt-get install -y libseccomp-dev), then `make e2e-node`"
			}
			return fmt.Sprintf("%s not built: `make e2e-node` (or `make node-tools`) builds the node", name)
		}
		if name == "runc" {
			if out, err := exec.Command(p, "--version").CombinedOutput(); err != nil {
				return fmt.Sprintf("%s does not run (%v: %s): is libseccomp installed? (apt-get install -y libseccomp2)", p, err, firstLine(string(out)))
			} else if !strings.Contains(string(out), "seccomp") {
				return fmt.Sprintf("%s was built without seccomp (the chart's pods ask for RuntimeDefault): rebuild it with libseccomp-dev installed", p)
			}
		}
		if name == "cni" {
			for _, plugin := range nodeCNIPlugins {
				if _, err := os.Stat(filepath.Join(p, plugin)); err != nil {
					return fmt.Sprintf("CNI plugin %s not built: `make e2e-node` (or `make node-tools`)", plugin)
				}
			}
		}
	}
	return ""
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

func cgroupsMounted() bool {
	for _, p := range []string{"/sys/fs/cgroup/cgroup.controllers", "/sys/fs/cgroup/memory"} {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// FindAsset finds a binary (or a directory: cni, node-images) in
// KUBEBUILDER_ASSETS, then in <root>/bin.
func FindAsset(root, name string) (string, error) {
	dirs := []string{AssetsDir(root)}
	if own := filepath.Join(root, "bin"); own != dirs[0] {
		dirs = append(dirs, own)
	}
	for _, dir := range dirs {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in %s: run `make node-tools`", name, strings.Join(dirs, " or "))
}

// lockNode takes the machine's node lock, waiting for another node to
// stop until ctx ends.
func lockNode(ctx context.Context) (*os.File, error) {
	f, err := os.OpenFile(nodeLockPath, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", nodeLockPath, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("another node runs on this machine (%s is locked): %w", nodeLockPath, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// ipCmd runs iproute2's ip.
func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// nodeBridgeMAC is the bridge's address, set: a bridge whose address the
// kernel picked takes the lowest of its ports' instead, and changes it as
// pods come and go; the pods' ARP entries for the gateway then point at
// another pod's veth, and their connections to the node (the API server,
// the kubelet's probes' answers) stall until the entries expire.
const nodeBridgeMAC = "02:68:67:6e:00:01"

// createBridge creates the pods' bridge with the gateway address and the
// Service address of the API server.
func createBridge() error {
	for _, args := range [][]string{
		{"link", "add", NodeBridge, "address", nodeBridgeMAC, "type", "bridge"},
		{"addr", "add", NodeGatewayIP + "/24", "dev", NodeBridge},
		{"addr", "add", nodeServiceIP + "/32", "dev", NodeBridge},
		{"link", "set", NodeBridge, "up"},
	} {
		if err := ipCmd(args...); err != nil {
			return err
		}
	}
	return nil
}

// deleteBridge deletes the bridge (and its addresses), if it exists.
func deleteBridge() error {
	if _, err := os.Stat("/sys/class/net/" + NodeBridge); err != nil {
		return nil
	}
	return ipCmd("link", "delete", NodeBridge)
}

// killNodeProcesses kills every process whose command line names a node
// directory (containerd's shims outlive containerd, and a node killed
// mid-run leaves all of its processes), and reports how many it found.
func killNodeProcesses(dir string) int {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	n := 0
	self := os.Getpid()
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil || pid == self {
			continue
		}
		data, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(data), dir) {
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
		n++
	}
	return n
}

// unmountUnder unmounts every mount point under dir, deepest first
// (overlay root filesystems, /dev/shm of sandboxes, network namespaces).
func unmountUnder(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return err
	}
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			mp := unescapeMount(fields[4])
			if mp == dir || strings.HasPrefix(mp, dir+"/") {
				points = append(points, mp)
			}
		}
	}
	f.Close()
	slices.SortFunc(points, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, mp := range slices.Compact(points) {
		if err := syscall.Unmount(mp, mntDetach); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", mp, err))
		}
	}
	return errors.Join(errs...)
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// createNodeCgroups creates nodeCgroupRoot in every cgroup hierarchy: the
// kubelet refuses a cgroupRoot that does not exist. A v1 cpuset cgroup
// starts with no CPUs and no memory nodes: the root's are copied.
func createNodeCgroups() error {
	var dirs []string
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		dirs = append(dirs, "/sys/fs/cgroup")
	} else {
		procs, _ := filepath.Glob("/sys/fs/cgroup/*/cgroup.procs")
		for _, p := range procs {
			dirs = append(dirs, filepath.Dir(p))
		}
	}
	for _, d := range dirs {
		if err := os.Mkdir(filepath.Join(d, nodeCgroupRoot), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("creating the kubelet's cgroup root: %w", err)
		}
		// The node's pods get the CPU a real node's would: on a test
		// machine at load 10+, tens of compilers in the root cgroup
		// would otherwise leave them so little (a cgroup weighs as one
		// task) that their 1-second probes time out and the kubelet
		// restarts them. 64 CPUs' worth in cgroup v1, the most in v2.
		for f, v := range map[string]string{"cpu.shares": "65536", "cpu.weight": "10000"} {
			if _, err := os.Stat(filepath.Join(d, nodeCgroupRoot, f)); err == nil {
				if err := os.WriteFile(filepath.Join(d, nodeCgroupRoot, f), []byte(v), 0o644); err != nil {
					return fmt.Errorf("%s of the kubelet's cgroup root: %w", f, err)
				}
			}
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if data, err := os.ReadFile(filepath.Join(d, f)); err == nil && filepath.Base(d) == "cpuset" {
				if err := os.WriteFile(filepath.Join(d, nodeCgroupRoot, f), data, 0o644); err != nil {
					return fmt.Errorf("%s of the kubelet's cgroup root: %w", f, err)
				}
			}
		}
	}
	return nil
}

// cpuHierarchies are the cgroup directories that hold the cpu
// controller: the v1 hierarchy with cpu.shares, or the v2 root.
func cpuHierarchies() []string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{"/sys/fs/cgroup"}
	}
	shares, _ := filepath.Glob("/sys/fs/cgroup/*/cpu.shares")
	var dirs []string
	for _, s := range shares {
		dirs = append(dirs, filepath.Dir(s))
	}
	return dirs
}

// joinNodeSystemCgroup moves this process (and so everything it starts
// from now on: the control plane, containerd and its shims, the kubelet)
// into nodeCgroupRoot/system of the cpu controller, beside the kubelet's
// kubepods: the node's daemons then share the node's CPU weight with its
// pods, as a real node's system slice does, instead of competing as a
// few tasks among the tens a busy test machine runs (a kubelet starved
// there misses its pods' 1-second probes and restarts them). It returns
// a function that moves this process back.
func joinNodeSystemCgroup() (leave func(), err error) {
	self := strconv.Itoa(os.Getpid())
	var joined []string
	leave = func() {
		for _, h := range joined {
			_ = os.WriteFile(filepath.Join(h, "cgroup.procs"), []byte(self), 0o644)
		}
	}
	for _, h := range cpuHierarchies() {
		sys := filepath.Join(h, nodeCgroupRoot, "system")
		if err := os.MkdirAll(sys, 0o755); err != nil {
			leave()
			return nil, err
		}
		if _, err := os.Stat(filepath.Join(h, nodeCgroupRoot, "cgroup.subtree_control")); err == nil {
			// v2: the children's weights apply once cpu is delegated.
			_ = os.WriteFile(filepath.Join(h, nodeCgroupRoot, "cgroup.subtree_control"), []byte("+cpu"), 0o644)
		}
		if err := os.WriteFile(filepath.Join(sys, "cgroup.procs"), []byte(self), 0o644); err != nil {
			leave()
			return nil, fmt.Errorf("moving the test process into %s: %w", sys, err)
		}
		joined = append(joined, h)
	}
	return leave, nil
}

// removeNodeCgroups removes the kubelet's cgroups under nodeCgroupRoot in
// every hierarchy, deepest first (a cgroup directory is removed with
// rmdir, once it holds no process).
func removeNodeCgroups() error {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/" + nodeCgroupRoot)
	if _, err := os.Stat("/sys/fs/cgroup/" + nodeCgroupRoot); err == nil {
		roots = append(roots, "/sys/fs/cgroup/"+nodeCgroupRoot)
	}
	var errs []error
	for _, root := range roots {
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		slices.SortFunc(dirs, func(a, b string) int { return len(b) - len(a) })
		// Containers a failed teardown left: only the node's run there.
		for _, d := range dirs {
			procs, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
			for _, f := range strings.Fields(string(procs)) {
				if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		for _, d := range dirs {
			var err error
			for i := 0; i < 50; i++ {
				if err = syscall.Rmdir(d); err == nil || errors.Is(err, syscall.ENOENT) {
					err = nil
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("removing cgroup %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}

// removeFixedState removes what a node leaves at fixed paths: libcni's
// cache of this network, the kubelet's links in /var/log/containers to
// logs under a node directory, its device-plugins socket, and the
// directories a node created that are now empty.
func removeFixedState() error {
	var errs []error
	// libcni's cache of a sandbox's networks (this one and containerd's
	// cni-loopback): a node's name the network namespace under its
	// directory.
	results, _ := filepath.Glob("/var/lib/cni/results/*")
	for _, r := range results {
		if data, err := os.ReadFile(r); err == nil && strings.Contains(string(data), nodeDirPrefix) {
			if err := os.Remove(r); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// The sockets of shims that are gone, and the kubelet's device-plugins
	// socket: those no one listens on.
	sockets, _ := filepath.Glob("/run/containerd/s/*")
	sockets = append(sockets, "/var/lib/kubelet/device-plugins/kubelet.sock")
	for _, s := range sockets {
		if conn, err := net.Dial("unix", s); err == nil {
			conn.Close()
		} else if errors.Is(err, syscall.ECONNREFUSED) {
			_ = os.Remove(s)
		}
	}
	links, _ := filepath.Glob("/var/log/containers/*.log")
	for _, l := range links {
		if target, err := os.Readlink(l); err == nil && strings.Contains(target, nodeDirPrefix) {
			if err := os.Remove(l); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// Only where empty: another kubelet or containerd may use them.
	for _, d := range []string{
		"/var/lib/cni/results", "/var/lib/cni", "/var/log/containers",
		"/var/lib/kubelet/device-plugins", "/var/lib/kubelet",
		"/run/containerd/s", "/run/containerd",
	} {
		_ = os.Remove(d)
	}
	return errors.Join(errs...)
}

// cleanStaleNodes removes what earlier nodes killed mid-run left: their
// processes, mounts, directories, cgroups, bridge and fixed state. The
// node lock must be held.
func cleanStaleNodes() error {
	var errs []error
	// The containers first (they run in the kubelet's cgroups), then the
	// shims and the rest.
	if err := removeNodeCgroups(); err != nil {
		errs = append(errs, err)
	}
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), nodeDirPrefix+"*"))
	for _, dir := range dirs {
		killNodeProcesses(dir)
	}
	if len(dirs) > 0 {
		time.Sleep(200 * time.Millisecond)
	}
	for _, dir := range dirs {
		if err := unmountUnder(dir); err != nil {
			errs = append(errs, err)
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		}
	}
	if err := deleteBridge(); err != nil {
		errs = append(errs, err)
	}
	if err := removeFixedState(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
