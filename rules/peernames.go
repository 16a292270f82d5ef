package rules

import (
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// This file finds the per-pod DNS names of StatefulSets
// (`<set>-<ordinal>.<service>[.<namespace>[.svc[.<domain>]]]`) in a pod
// template's configuration: env values, args and command of every
// container, and the ConfigMaps the template references. Software that
// writes its peers' names into its configuration (a ZooKeeper ensemble, a
// Kafka quorum, an etcd cluster) looks them up: if they cannot resolve,
// it cannot form its cluster. That is the evidence that makes a missing
// or non-headless governing Service a certain mistake (HG002, HG003), and
// a name that matches no pod that will exist a likely one (HG013).

// PeerName is a per-pod DNS name found in a pod template's configuration.
type PeerName struct {
	// Name is the name as written, e.g. "zk-0.zk-hs.default.svc.cluster.local".
	Name string
	// Set and Ordinal are the pod's StatefulSet and ordinal (`<set>-<ordinal>`).
	Set     string
	Ordinal int
	// Service is the label after the pod's: its governing Service.
	Service string
	// Namespace is the label after the Service's; "" when the name stops
	// at the Service.
	Namespace string
	// Domain is what follows `.svc.`; "" when the name stops before it.
	Domain string
	// Qualified is set when the name goes on to `.svc`: only then is the
	// label after the Service certainly a namespace (`web-0.example.com`
	// has the shape of `<pod>.<service>.<namespace>` too).
	Qualified bool
	// Source says where the name was found.
	Source ConfigSource
}

// Pod is the pod's name, `<set>-<ordinal>`.
func (p PeerName) Pod() string { return fmt.Sprintf("%s-%d", p.Set, p.Ordinal) }

// ConfigSource is one piece of a pod template's configuration.
type ConfigSource struct {
	// Path is the field of the workload that holds the value, or that
	// references the ConfigMap holding it.
	Path *field.Path
	// What says it for people: "env `ZOO_SERVERS` of container `zk`",
	// "key `zoo.cfg` of ConfigMap `zk-config`".
	What string
}

// maxPeerText bounds what one value contributes to a scan: a peer list
// fits in far less, and a request must not cost a scan over megabytes.
const maxPeerText = 256 << 10

// FindPeerNames returns the per-pod names in text: inside URLs
// (`http://zk-0.zk-hs:8080`), `host:port`, `id@host`, `name=url`, lists
// separated by commas, spaces or semicolons, quotes and JSON. A per-pod
// name is a DNS label ending in `-<digits>`, a dot, a label that starts
// with a letter (Service names are DNS-1035 labels, so a version such as
// `1.2-3.4` is never one), then any further labels. A name that continues
// past its namespace with anything but `.svc` is some other domain's
// (`web-0.example.co.uk`) and is not one; nor is a label that is part of a
// longer name (`my.web-0.nginx`).
//
// It is a single pass over the bytes, anchored on each dot that follows
// `-<digits>`: evidence is looked for on every StatefulSet request, and a
// regular expression over every env value costs ten times as much.
func FindPeerNames(text string, src ConfigSource) []PeerName {
	if len(text) > maxPeerText {
		text = text[:maxPeerText]
	}
	var out []PeerName
	for i := 0; i < len(text); i++ {
		if text[i] != '.' {
			continue
		}
		// `-<digits>` before the dot, and the label they end.
		j := i
		for j > 0 && text[j-1] >= '0' && text[j-1] <= '9' {
			j--
		}
		if j == i || j < 2 || text[j-1] != '-' {
			continue
		}
		k := j - 1
		for k > 0 && isLabelByte(text[k-1]) {
			k--
		}
		if k == j-1 || text[k] == '-' || text[j-2] == '-' || k > 0 && isNameByte(text[k-1]) {
			continue
		}
		// The Service's label starts with a letter; it and the labels
		// after it are the longest runs of label bytes, less trailing
		// dashes.
		if i+1 >= len(text) || text[i+1] < 'a' || text[i+1] > 'z' {
			continue
		}
		end := labelEnd(text, i+1)
		for end+1 < len(text) && text[end] == '.' && isLabelByte(text[end+1]) && text[end+1] != '-' {
			end = labelEnd(text, end+1)
		}
		if p, ok := parsePeerName(text[k:end]); ok {
			p.Source = src
			out = append(out, p)
		}
		i = end - 1
	}
	return out
}

// labelEnd returns where the DNS label that starts at from ends: after its
// last letter or digit.
func labelEnd(text string, from int) int {
	end := from
	for end < len(text) && isLabelByte(text[end]) {
		end++
	}
	for end > from && text[end-1] == '-' {
		end--
	}
	return end
}

// isLabelByte reports whether b may appear in a DNS label of a Kubernetes
// name.
func isLabelByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-'
}

// isNameByte reports whether b continues a DNS name to the left: a match
// preceded by one is the tail of another name.
func isNameByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '.' || b == '_'
}

func parsePeerName(name string) (PeerName, bool) {
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if len(l) > maxLabelLength {
			return PeerName{}, false
		}
	}
	pod := labels[0]
	dash := strings.LastIndexByte(pod, '-')
	digits := pod[dash+1:]
	if len(digits) > 1 && digits[0] == '0' || len(digits) > 9 {
		return PeerName{}, false
	}
	ordinal, err := strconv.Atoi(digits)
	if err != nil {
		return PeerName{}, false
	}
	p := PeerName{Name: name, Set: pod[:dash], Ordinal: ordinal, Service: labels[1]}
	rest := labels[2:]
	switch {
	case len(rest) == 0:
	case len(rest) == 1:
		p.Namespace = rest[0]
	case rest[1] == "svc":
		p.Namespace, p.Domain, p.Qualified = rest[0], strings.Join(rest[2:], "."), true
	default:
		return PeerName{}, false
	}
	return p, true
}

// configLimits bound what evidence costs one request: the ConfigMaps read
// (each may be a live GET) and the bytes of them scanned.
const (
	maxConfigMaps     = 8
	maxConfigMapBytes = 1 << 20
)

// configScan is what was found in one StatefulSet's configuration.
type configScan struct {
	names []PeerName
	// withConfigMaps is set once the referenced ConfigMaps were read.
	withConfigMaps bool
	// unread says which ConfigMaps could not be read, and why.
	unread []string
}

// scanMemo keeps the scans of one evaluation: every rule of a request
// reads the same configuration, and a ConfigMap is read at most once.
type scanMemo map[*appsv1.StatefulSet]*configScan

// configScan returns the per-pod names in sts's configuration; with
// configMaps, also in the ConfigMaps its template references.
func (c *Context) configScan(sts *appsv1.StatefulSet, configMaps bool) *configScan {
	if c.scans == nil {
		c.scans = scanMemo{}
	}
	s := c.scans[sts]
	if s == nil {
		s = &configScan{names: inlinePeerNames(&sts.Spec.Template.Spec, templatePath.Child("spec"))}
		c.scans[sts] = s
	}
	if configMaps && !s.withConfigMaps {
		s.withConfigMaps = true
		c.scanConfigMaps(sts, s)
	}
	return s
}

// inlinePeerNames scans the env values, args and command of every
// container and init container.
func inlinePeerNames(spec *corev1.PodSpec, specPath *field.Path) []PeerName {
	var out []PeerName
	eachContainer(spec, specPath, func(ct *corev1.Container, path *field.Path) {
		for j, e := range ct.Env {
			if e.Value != "" {
				out = append(out, FindPeerNames(e.Value, ConfigSource{path.Child("env").Index(j).Child("value"), fmt.Sprintf("env `%s` of container `%s`", e.Name, ct.Name)})...)
			}
		}
		for j, a := range ct.Args {
			out = append(out, FindPeerNames(a, ConfigSource{path.Child("args").Index(j), fmt.Sprintf("args of container `%s`", ct.Name)})...)
		}
		for j, a := range ct.Command {
			out = append(out, FindPeerNames(a, ConfigSource{path.Child("command").Index(j), fmt.Sprintf("command of container `%s`", ct.Name)})...)
		}
	})
	return out
}

// eachContainer calls f with every init container and container of spec,
// in that order, and its field path.
func eachContainer(spec *corev1.PodSpec, specPath *field.Path, f func(ct *corev1.Container, path *field.Path)) {
	for _, group := range []struct {
		name string
		cs   []corev1.Container
	}{{"initContainers", spec.InitContainers}, {"containers", spec.Containers}} {
		for i := range group.cs {
			f(&group.cs[i], specPath.Child(group.name).Index(i))
		}
	}
}

// configMapRef is one reference from a pod template to a ConfigMap: all
// of it, or the listed keys.
type configMapRef struct {
	name string
	keys []string // nil: every key
	path *field.Path
}

// configMapRefs lists the template's references to ConfigMaps, in the
// order env, envFrom, volumes.
func configMapRefs(spec *corev1.PodSpec, specPath *field.Path) []configMapRef {
	var out []configMapRef
	eachContainer(spec, specPath, func(ct *corev1.Container, path *field.Path) {
		for j, e := range ct.Env {
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
				r := e.ValueFrom.ConfigMapKeyRef
				out = append(out, configMapRef{r.Name, []string{r.Key}, path.Child("env").Index(j).Child("valueFrom", "configMapKeyRef")})
			}
		}
		for j, e := range ct.EnvFrom {
			if e.ConfigMapRef != nil {
				out = append(out, configMapRef{e.ConfigMapRef.Name, nil, path.Child("envFrom").Index(j).Child("configMapRef")})
			}
		}
	})
	for i, v := range spec.Volumes {
		path := specPath.Child("volumes").Index(i)
		if v.ConfigMap != nil {
			out = append(out, configMapRef{v.ConfigMap.Name, itemKeys(v.ConfigMap.Items), path.Child("configMap")})
		}
		if v.Projected != nil {
			for j, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					out = append(out, configMapRef{s.ConfigMap.Name, itemKeys(s.ConfigMap.Items), path.Child("projected", "sources").Index(j).Child("configMap")})
				}
			}
		}
	}
	return out
}

func itemKeys(items []corev1.KeyToPath) []string {
	if len(items) == 0 {
		return nil
	}
	keys := make([]string, len(items))
	for i, it := range items {
		keys[i] = it.Key
	}
	return keys
}

// scanConfigMaps reads the ConfigMaps sts's template references, up to
// maxConfigMaps of them and maxConfigMapBytes in all. A ConfigMap that
// cannot be read is no evidence: it is listed in s.unread, which the
// warning repeats, and never fails the request.
func (c *Context) scanConfigMaps(sts *appsv1.StatefulSet, s *configScan) {
	var read []string
	budget := maxConfigMapBytes
	for _, ref := range configMapRefs(&sts.Spec.Template.Spec, templatePath.Child("spec")) {
		if ref.name == "" {
			continue
		}
		if !containsString(read, ref.name) {
			if len(read) == maxConfigMaps {
				s.unread = appendUnique(s.unread, fmt.Sprintf("ConfigMap `%s` was not read (at most %d per request)", ref.name, maxConfigMaps))
				continue
			}
			read = append(read, ref.name)
		}
		cm, err := c.lookup.ConfigMap(sts.Namespace, ref.name)
		if err != nil {
			s.unread = appendUnique(s.unread, fmt.Sprintf("ConfigMap `%s` could not be read (%s)", ref.name, cut(err.Error(), 200)))
			continue
		}
		if cm == nil {
			continue
		}
		keys := ref.keys
		if keys == nil {
			keys = sortedKeys(cm.Data)
		}
		for _, k := range keys {
			v, ok := cm.Data[k]
			if !ok {
				continue
			}
			if len(v) > budget {
				s.unread = appendUnique(s.unread, fmt.Sprintf("ConfigMap `%s` was read only in part (at most %d bytes per request)", ref.name, maxConfigMapBytes))
				v = v[:budget]
			}
			budget -= len(v)
			s.names = append(s.names, FindPeerNames(v, ConfigSource{ref.path, fmt.Sprintf("key `%s` of ConfigMap `%s`", k, ref.name)})...)
			if budget == 0 {
				return
			}
		}
	}
}

// usesOwnNames returns the first per-pod name of sts through its own
// `serviceName` in its namespace: the names its configuration looks up.
func usesOwnNames(sts *appsv1.StatefulSet, names []PeerName) (PeerName, bool) {
	for _, p := range names {
		if p.Set == sts.Name && p.Service == sts.Spec.ServiceName && (p.Namespace == "" || p.Namespace == sts.Namespace) {
			return p, true
		}
	}
	return PeerName{}, false
}

// evidence looks for the per-pod names of sts in its configuration when
// they can change the verdict of c's rule: only then, and only as far as
// needed, are ConfigMaps read (a live GET each at admission). It returns
// the name found, or the reason the finding is uncertain.
func (c *Context) evidence(sts *appsv1.StatefulSet) (PeerName, string, bool) {
	s := c.configScan(sts, false)
	if p, ok := usesOwnNames(sts, s.names); ok {
		return p, "", true
	}
	if c.evidenceCanDeny(sts) {
		s = c.configScan(sts, true)
		if p, ok := usesOwnNames(sts, s.names); ok {
			return p, "", true
		}
	}
	reason := reasonNoEvidence
	if len(s.unread) > 0 {
		reason += "; " + strings.Join(s.unread, "; ")
	}
	return PeerName{}, reason, false
}

// evidenceCanDeny reports whether evidence of use would turn c's finding
// into a denial: in the default level, when the finding would deny if it
// were certain (Policy.Decide: not controller-owned, not dry-run capped,
// the rule configured to deny, enforced). On UPDATE the stored object shows
// the same defect (`spec.serviceName` is immutable), so the finding is a
// warning whatever the evidence.
func (c *Context) evidenceCanDeny(obj metav1.Object) bool {
	if c.rule == nil || c.Request.Operation != Create || c.Policy.Level == LevelStrict {
		return false
	}
	kind, _ := KindOf(c.Request.Object)
	action, _ := c.Policy.Decide(c.rule, Decision{Kind: kind, Operation: Create, DryRun: c.Request.DryRun, ControllerOwned: ControllerOwnedObject(obj)})
	return action == ActionDeny
}

// ControllerOwnedObject reports whether obj has an ownerReference with
// `controller: true`: it was written by a controller, which cannot read a
// denial and retries forever.
func ControllerOwnedObject(obj any) bool {
	m, ok := obj.(metav1.Object)
	return ok && metav1.GetControllerOfNoCopy(m) != nil
}

// Reasons a finding is a warning where the rule's action says deny.
const (
	reasonNoEvidence      = "nothing in the pod template uses the per-pod names"
	reasonControllerOwned = "controller-owned"
	reasonServiceCreate   = "a Service create"
)

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func appendUnique(list []string, s string) []string {
	if containsString(list, s) {
		return list
	}
	return append(list, s)
}

// cut shortens s to at most n bytes, marking the cut.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
