package cluster

import (
	"encoding/json"
	"fmt"
	"strings"
)

// SandboxImage is the pod sandbox image: containerd 2.4's default, which a
// node must hold before its first pod (nothing is pulled here). `make
// node-images` builds one from a small static program.
const SandboxImage = "registry.k8s.io/pause:3.10.2"

// nodePaths are the files and directories of one node, under its
// temporary directory.
type nodePaths struct {
	dir                                   string
	containerdRoot, containerdState, runc string
	containerdConfig, containerdSock      string
	cniConf, cniIPAM                      string
	kubeletRoot, kubeletConfig, podLogs   string
	resolvConf                            string
	certs                                 string
}

func newNodePaths(dir string) nodePaths {
	return nodePaths{
		dir:              dir,
		containerdRoot:   dir + "/containerd/root",
		containerdState:  dir + "/containerd/state",
		runc:             dir + "/containerd/runc",
		containerdConfig: dir + "/containerd/config.toml",
		containerdSock:   dir + "/containerd/containerd.sock",
		cniConf:          dir + "/cni/net.d",
		cniIPAM:          dir + "/cni/ipam",
		kubeletRoot:      dir + "/kubelet",
		kubeletConfig:    dir + "/kubelet-config.yaml",
		podLogs:          dir + "/pods",
		resolvConf:       dir + "/resolv.conf",
		certs:            dir + "/certs",
	}
}

// containerdConfig is containerd's configuration (version 3, containerd
// 2.x): its root, state and sockets under the node's directory, CRI with
// runc from runcPath and the CNI plugins from cniBin.
//
// restrict_oom_score_adj: root in a VM or container may lack
// CAP_SYS_RESOURCE, and runc then fails every container with "failed to
// update /proc/self/oom_score_adj: Permission denied" when the kubelet
// asks for a score below containerd's own (it does for Guaranteed pods and
// the sandbox).
func containerdConfig(p nodePaths, runcPath, cniBin string) string {
	return fmt.Sprintf(`version = 3
root = %[1]q
state = %[2]q
# Not on this node: the snapshotters and services the pods do not use.
disabled_plugins = [
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.erofs",
  "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
  "io.containerd.nri.v1.nri",
]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [%[5]q]
    conf_dir = %[6]q
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
    BinaryName = %[7]q
    Root = %[8]q
    SystemdCgroup = false

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = %[9]q
`, p.containerdRoot, p.containerdState, p.containerdSock, p.containerdSock+".ttrpc",
		cniBin, p.cniConf, runcPath, p.runc, SandboxImage)
}

// cniConfig is the pods' network: a veth per pod on NodeBridge, an address
// from NodePodSubnet, and one route, to the API server's Service address
// through the node. No default route and no masquerading: a pod reaches
// the node's addresses and other pods, nothing else. isGateway is false:
// the test gives the bridge its address, and the plugin changes no sysctl
// of the host (ip_forward). portmap serves hostPort (no pod uses one).
func cniConfig(p nodePaths) string {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       nodeCNINetwork,
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      NodeBridge,
				"isGateway":   false,
				"ipMasq":      false,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": p.cniIPAM,
					"ranges": [][]map[string]string{{{
						"subnet":     NodePodSubnet,
						"rangeStart": strings.TrimSuffix(NodeGatewayIP, ".1") + ".10",
						"gateway":    NodeGatewayIP,
					}}},
					"routes": []map[string]string{{"dst": nodeServiceIP + "/32", "gw": NodeGatewayIP}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	data, _ := json.MarshalIndent(conf, "", "  ")
	return string(data)
}

// kubeletConfig is the KubeletConfiguration of the node:
//
//   - failCgroupV1: false: kubelet 1.35+ refuses cgroup v1 hosts otherwise
//     (this kind of VM mounts v1 hierarchies, v2 only beside them);
//   - cgroupDriver cgroupfs under nodeCgroupRoot (no systemd here), removed
//     on exit;
//   - its API on the node's address, for the API server's logs and attach
//     only: x509 client certificates from clientCA, nobody anonymous;
//   - healthz on loopback, no read-only port;
//   - DNS: CoreDNS on the bridge, no search domain of the host's;
//   - no eviction or image garbage collection on a busy test machine's
//     disk: the images are imported once and never pulled again.
func kubeletConfig(p nodePaths, clientCA string) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /%[1]s
containerRuntimeEndpoint: unix://%[2]s
imageServiceEndpoint: unix://%[2]s
address: %[3]s
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: false
  x509:
    clientCAFile: %[4]q
authorization:
  mode: AlwaysAllow
clusterDomain: %[5]s
clusterDNS:
- %[3]s
resolvConf: %[6]q
podLogsDir: %[7]q
failSwapOn: false
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: "1Mi"
  nodefs.available: "1%%"
  nodefs.inodesFree: "1%%"
  imagefs.available: "1%%"
  imagefs.inodesFree: "1%%"
nodeStatusReportFrequency: 10s
nodeStatusUpdateFrequency: 2s
syncFrequency: 10s
fileCheckFrequency: 20s
runtimeRequestTimeout: 2m
streamingConnectionIdleTimeout: 5m
registerWithTaints: []
`, nodeCgroupRoot, p.containerdSock, NodeGatewayIP, clientCA, ClusterDomain, p.resolvConf, p.podLogs)
}

// nodeCorefile is CoreDNS on the bridge, for the pods (corefileFor, as
// Options.Full's).
func nodeCorefile(readyAddr, kubeconfig string) string {
	return corefileFor(NodeGatewayIP, 53, readyAddr, kubeconfig)
}
