// Package cluster runs a real control plane for tests and for `make run`:
// etcd and kube-apiserver started by controller-runtime's envtest from
// KUBEBUILDER_ASSETS (default <repo>/bin, built by hack/tools.mk), the
// webhook configurations of deploy/base/webhooks.yaml registered against a
// local HTTPS endpoint with a generated serving certificate, the real
// headless-guard binary serving that endpoint, and the real kubectl.
//
// A test starts one with Setup and the guard with StartGuard:
//
//	c := cluster.Setup(t, cluster.Options{})
//	g, err := c.StartGuard(t.Context(), "--mode=warn")
//	out, errOut, err := c.Kubectl(t.Context(), manifest, "apply", "-f", "-")
//
// Every process it starts runs in its own process group and is stopped by
// Stop, by the end of the context it was started with and, on Linux, by a
// watchdog when the test process itself dies (a `go test -timeout` panic, a
// SIGKILL): none outlives the process that started it.
//
// StartNode starts a control plane and a real node beside it instead of
// kwok's fake one: containerd with runc and the CNI bridge plugin, and the
// kubelet (NodeUnavailable says why a machine cannot run one: it needs
// root, cgroups, overlayfs and the binaries of `make node-tools`). There is
// no kube-proxy: the API server calls webhooks at their Services'
// endpoints, pods reach the API server at the Service default/kubernetes's
// address and CoreDNS on the node's bridge. One node runs per machine.
//
// envtest logs through controller-runtime's global logger. Processes that
// never call sigs.k8s.io/controller-runtime/pkg/log.SetLogger get a warning
// with a stack trace from controller-runtime after 30 seconds; test mains
// that use this package should set one (logr.Discard() is fine: the
// control plane's own output goes to files under Options.LogDir).
package cluster
