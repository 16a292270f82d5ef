package dnsexplain

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// Read lists the Services, StatefulSets, Pods and EndpointSlices of
// namespace ("" for all namespaces), and its ConfigMaps where it may:
// list, nothing else. An error names the kind and where, so that a missing
// RBAC permission says which.
func Read(ctx context.Context, c client.Reader, namespace string) (*Objects, error) {
	var opts []client.ListOption
	where := "all namespaces"
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
		where = "namespace " + namespace
	}
	objs := &Objects{}
	var services corev1.ServiceList
	var sets appsv1.StatefulSetList
	var pods corev1.PodList
	var slices discoveryv1.EndpointSliceList
	for _, l := range []struct {
		kind string
		list client.ObjectList
	}{{"services", &services}, {"statefulsets.apps", &sets}, {"pods", &pods}, {"endpointslices.discovery.k8s.io", &slices}} {
		if err := c.List(ctx, l.list, opts...); err != nil {
			return nil, fmt.Errorf("listing %s of %s: %w (`headless-guard dns` needs get and list on services, pods, statefulsets.apps and endpointslices.discovery.k8s.io)", l.kind, where, err)
		}
	}
	for i := range services.Items {
		objs.Services = append(objs.Services, &services.Items[i])
	}
	for i := range sets.Items {
		objs.StatefulSets = append(objs.StatefulSets, &sets.Items[i])
	}
	for i := range pods.Items {
		objs.Pods = append(objs.Pods, &pods.Items[i])
	}
	for i := range slices.Items {
		objs.EndpointSlices = append(objs.EndpointSlices, &slices.Items[i])
	}
	// ConfigMaps only say whether the workloads look their names up: one
	// that may not be read is said, not an error.
	var cms corev1.ConfigMapList
	switch err := c.List(ctx, &cms, opts...); {
	case apierrors.IsForbidden(err):
		objs.ConfigMapsUnread = fmt.Sprintf("the ConfigMaps of %s were not read (forbidden: grant list on configmaps to look in them)", where)
	case err != nil:
		return nil, fmt.Errorf("listing configmaps of %s: %w", where, err)
	}
	for i := range cms.Items {
		objs.ConfigMaps = append(objs.ConfigMaps, &cms.Items[i])
	}
	return objs, nil
}

// The ConfigMaps that say the cluster domain in clusters kubeadm set up
// (and most distributions that follow it): CoreDNS's Corefile, and the
// kubelet configuration. The kubelet's own flags and files are not
// readable through the API.
const (
	configNamespace  = "kube-system"
	corednsConfigMap = "coredns"
	kubeletConfigMap = "kubelet-config"
)

// ClusterDomain reads the cluster's DNS domain from the ConfigMaps that
// hold it (kube-system/coredns: the zone of the `kubernetes` plugin;
// kube-system/kubelet-config: `clusterDomain`), and says where it found
// it. ok is false when neither exists or may be read: the caller falls
// back to cluster.local and says so.
func ClusterDomain(ctx context.Context, c client.Reader) (domain, source string, ok bool) {
	var cm corev1.ConfigMap
	if err := c.Get(ctx, client.ObjectKey{Namespace: configNamespace, Name: corednsConfigMap}, &cm); err == nil {
		if d := corefileZone(cm.Data["Corefile"]); d != "" {
			return d, "from the `kubernetes` plugin of ConfigMap kube-system/coredns", true
		}
	} else if !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err) {
		return "", "", false
	}
	cm = corev1.ConfigMap{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: configNamespace, Name: kubeletConfigMap}, &cm); err == nil {
		var cfg struct {
			ClusterDomain string `json:"clusterDomain"`
		}
		if yaml.Unmarshal([]byte(cm.Data["kubelet"]), &cfg) == nil && cfg.ClusterDomain != "" {
			return strings.TrimSuffix(cfg.ClusterDomain, "."), "from `clusterDomain` of ConfigMap kube-system/kubelet-config", true
		}
	}
	return "", "", false
}

// corefileZone is the first zone of the Corefile's `kubernetes` plugin
// that is not a reverse zone: `kubernetes cluster.local in-addr.arpa
// ip6.arpa {` gives cluster.local.
func corefileZone(corefile string) string {
	sc := bufio.NewScanner(strings.NewReader(corefile))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || fields[0] != "kubernetes" {
			continue
		}
		for _, z := range fields[1:] {
			if z == "{" || strings.HasPrefix(z, "#") {
				break
			}
			z = strings.TrimSuffix(z, ".")
			if !strings.HasSuffix(z, ".arpa") {
				return z
			}
		}
	}
	return ""
}
