package dnsexplain

import (
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/headless-guard/headless-guard/rules"
)

// Objects are what the explanation reads: the namespaces' Services,
// StatefulSets, Pods and EndpointSlices.
type Objects struct {
	Services       []*corev1.Service
	StatefulSets   []*appsv1.StatefulSet
	Pods           []*corev1.Pod
	EndpointSlices []*discoveryv1.EndpointSlice
	// ConfigMaps are where a pod template's configuration may name its
	// peers; ConfigMapsUnread says why there are none to look in, when
	// they could not be read.
	ConfigMaps       []*corev1.ConfigMap
	ConfigMapsUnread string
}

// Target is what to explain: a StatefulSet, a Pod or a Service by name, or
// with Kind "" every StatefulSet and subdomain pod of Namespace ("" for
// all namespaces).
type Target struct {
	Kind      string // rules.KindStatefulSet, rules.KindPod, rules.KindService or ""
	Namespace string
	Name      string
}

func (t Target) String() string {
	if t.Kind == "" {
		if t.Namespace == "" {
			return "all namespaces"
		}
		return "namespace " + t.Namespace
	}
	return t.Kind + " " + t.Namespace + "/" + t.Name
}

// Options tune the explanation.
type Options struct {
	// ClusterDomain is the cluster's DNS domain; "" is cluster.local.
	ClusterDomain string
}

// Report is the explanation of one Target.
type Report struct {
	Target        string `json:"target"`
	ClusterDomain string `json:"clusterDomain"`
	// DomainSource says where ClusterDomain comes from (the flag, a
	// ConfigMap of the cluster, or the default).
	DomainSource string `json:"clusterDomainSource,omitempty"`
	// Resolver is the DNS server asked (`--resolve`), "" when none was.
	Resolver string  `json:"resolver,omitempty"`
	Groups   []Group `json:"groups"`
}

// Group is one governing Service (or, for a StatefulSet without
// `spec.serviceName`, none) and the pods that expect names under it.
type Group struct {
	Namespace string `json:"namespace"`
	// Service is the Service the members name; "" when they name none.
	Service string `json:"service,omitempty"`
	// ServiceState is "headless", "ClusterIP <ip>", "type <type>",
	// "missing", or "" when Service is "".
	ServiceState string `json:"serviceState,omitempty"`
	// Members are the workloads whose pods expect names under Service:
	// "StatefulSet web (3 replicas)", "Pod busybox1".
	Members []string `json:"members"`
	// Notes are findings about the group as a whole that cost no single
	// name (an unnamed port, a StatefulSet without `spec.serviceName`, what
	// the configuration uses).
	Notes   []Reason `json:"notes,omitempty"`
	Records []Record `json:"records"`
	// Uses are the members' own per-pod names their configuration looks up.
	Uses []Use `json:"uses,omitempty"`
}

// Use is a per-pod name of a StatefulSet's own pods that its pod
// template's configuration looks up: a name that must resolve.
type Use struct {
	StatefulSet string `json:"statefulSet"`
	// Name is the name as written (without a port), e.g. "web-0.nginx-headless".
	Name string `json:"name"`
	// Where says where it is written: "env `PEERS` of container `app`".
	Where string `json:"where"`
	// Record is the per-pod record's name (fully qualified), "" when the
	// name is of no pod of the StatefulSet (HG013).
	Record string `json:"record,omitempty"`
	// OtherService is the Service the name goes through when it is not the
	// StatefulSet's own: no pod has its name there (HG013).
	OtherService string `json:"otherService,omitempty"`
}

// Record is one DNS name and type, what it should answer, what the
// cluster's objects say CoreDNS answers, and, after Resolve, what the DNS
// server answered.
type Record struct {
	// Name is the fully qualified name, without the final dot.
	Name string `json:"name"`
	// Type is A, AAAA or SRV.
	Type string `json:"type"`
	// Pod is the pod a per-pod record is about.
	Pod string `json:"pod,omitempty"`
	// Expected are the answers that should be there: addresses, or
	// `target:port` for SRV. A pod without an IP adds none, its reason says so.
	Expected []string `json:"expected"`
	// Objects are the answers the EndpointSlices (or, for a ClusterIP
	// Service, its cluster IPs) give under the DNS specification.
	Objects []string `json:"objects"`
	// Answered is what the DNS server answered; nil (null) unless Resolve ran.
	Answered []string `json:"answered"`
	// Resolved is true once Resolve asked the DNS server for the record.
	Resolved bool `json:"resolved,omitempty"`
	// Missing is true when an expected answer is absent (from Answered
	// after Resolve, from Objects before): the name does not resolve, or
	// not to every pod.
	Missing bool `json:"missing"`
	// Differs is true when the DNS server answered otherwise than the
	// objects say.
	Differs bool `json:"differs,omitempty"`
	// Reasons say why expected answers are missing, or extra ones are there.
	Reasons []Reason `json:"reasons,omitempty"`
}

// Reason is why a record lacks (or has) an answer: the rule it breaks,
// when one exists, and the fix.
type Reason struct {
	Rule    string `json:"rule,omitempty"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
	// uses marks a note of usesNotes, which Resolve writes again from the
	// answers.
	uses bool
}

// Missing reports whether any record of the report misses an expected answer.
func (r *Report) Missing() bool {
	for _, g := range r.Groups {
		for _, rec := range g.Records {
			if rec.Missing {
				return true
			}
		}
	}
	return false
}

// NotFoundError is a Target that names no object.
type NotFoundError struct{ Target Target }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s not found: name an existing object (`kubectl get %s -n %s`)", e.Target, strings.ToLower(e.Target.Kind)+"s", e.Target.Namespace)
}

// Explain builds the report for target from objs.
func Explain(objs *Objects, target Target, opts Options) (*Report, error) {
	x := newExplainer(objs, opts)
	rep := &Report{Target: target.String(), ClusterDomain: x.domain, Groups: []Group{}}
	switch target.Kind {
	case "":
		for _, key := range x.groupKeys(target.Namespace) {
			rep.Groups = append(rep.Groups, x.group(key, nil))
		}
	case rules.KindStatefulSet:
		sts := x.statefulSet(target.Namespace, target.Name)
		if sts == nil {
			return nil, &NotFoundError{target}
		}
		rep.Groups = append(rep.Groups, x.group(groupKey{sts.Namespace, sts.Spec.ServiceName, orphanName(sts)}, func(m member) bool { return m.sts == sts }))
	case rules.KindPod:
		pod := x.pod(target.Namespace, target.Name)
		if pod == nil {
			return nil, &NotFoundError{target}
		}
		key, ok := x.keyOfPod(pod)
		if !ok {
			return nil, fmt.Errorf("pod %s/%s expects no DNS name of its own: it belongs to no StatefulSet and sets no `spec.subdomain`", pod.Namespace, pod.Name)
		}
		g := x.group(key, func(m member) bool { return m.pod != nil && m.pod.Name == pod.Name })
		// Only the pod's own names: the Service's records are the whole set's.
		g.Records = slices.DeleteFunc(g.Records, func(r Record) bool { return r.Pod != pod.Name })
		rep.Groups = append(rep.Groups, g)
	case rules.KindService:
		if x.service(target.Namespace, target.Name) == nil {
			return nil, &NotFoundError{target}
		}
		rep.Groups = append(rep.Groups, x.group(groupKey{target.Namespace, target.Name, ""}, nil))
	default:
		return nil, fmt.Errorf("cannot explain a %s: name a statefulset, pod or service", target.Kind)
	}
	return rep, nil
}

// groupKey identifies a group: a namespace's Service, or (orphan set) the
// StatefulSet without `spec.serviceName` it stands for.
type groupKey struct {
	namespace, service, orphan string
}

func orphanName(sts *appsv1.StatefulSet) string {
	if sts.Spec.ServiceName == "" {
		return sts.Name
	}
	return ""
}

// member is one pod that expects a per-pod name in a group: the pod of a
// StatefulSet ordinal (pod nil when it does not exist) or a pod with
// `spec.subdomain`.
type member struct {
	sts      *appsv1.StatefulSet
	hostname string
	pod      *corev1.Pod
}

type explainer struct {
	objs   *Objects
	domain string
	// pods and slices by namespace, and the objects by namespace/name:
	// --all-namespaces of a large cluster must not cost pods × StatefulSets.
	pods     map[string][]*corev1.Pod
	slices   map[string][]*discoveryv1.EndpointSlice
	podByKey map[string]*corev1.Pod
	stsByKey map[string]*appsv1.StatefulSet
	svcByKey map[string]*corev1.Service
	cmByKey  map[string]*corev1.ConfigMap
	groups   map[groupKey][]*appsv1.StatefulSet
}

func newExplainer(objs *Objects, opts Options) *explainer {
	x := &explainer{objs: objs, domain: opts.ClusterDomain,
		pods: map[string][]*corev1.Pod{}, slices: map[string][]*discoveryv1.EndpointSlice{},
		podByKey: map[string]*corev1.Pod{}, stsByKey: map[string]*appsv1.StatefulSet{}, svcByKey: map[string]*corev1.Service{},
		cmByKey: map[string]*corev1.ConfigMap{}, groups: map[groupKey][]*appsv1.StatefulSet{}}
	if x.domain == "" {
		x.domain = rules.DefaultClusterDomain
	}
	for _, p := range objs.Pods {
		x.pods[p.Namespace] = append(x.pods[p.Namespace], p)
		x.podByKey[p.Namespace+"/"+p.Name] = p
	}
	for _, s := range objs.StatefulSets {
		x.stsByKey[s.Namespace+"/"+s.Name] = s
		k := groupKey{s.Namespace, s.Spec.ServiceName, orphanName(s)}
		x.groups[k] = append(x.groups[k], s)
	}
	for _, cm := range objs.ConfigMaps {
		x.cmByKey[cm.Namespace+"/"+cm.Name] = cm
	}
	for _, s := range objs.Services {
		x.svcByKey[s.Namespace+"/"+s.Name] = s
	}
	for _, s := range objs.EndpointSlices {
		x.slices[s.Namespace] = append(x.slices[s.Namespace], s)
	}
	return x
}

func (x *explainer) statefulSet(ns, name string) *appsv1.StatefulSet { return x.stsByKey[ns+"/"+name] }

func (x *explainer) pod(ns, name string) *corev1.Pod { return x.podByKey[ns+"/"+name] }

func (x *explainer) service(ns, name string) *corev1.Service { return x.svcByKey[ns+"/"+name] }

// ownerSet is the StatefulSet that controls pod, or nil.
func (x *explainer) ownerSet(pod *corev1.Pod) *appsv1.StatefulSet {
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != rules.KindStatefulSet {
		return nil
	}
	return x.statefulSet(pod.Namespace, ref.Name)
}

func (x *explainer) keyOfPod(pod *corev1.Pod) (groupKey, bool) {
	if sts := x.ownerSet(pod); sts != nil {
		return groupKey{sts.Namespace, sts.Spec.ServiceName, orphanName(sts)}, true
	}
	if pod.Spec.Subdomain != "" {
		return groupKey{pod.Namespace, pod.Spec.Subdomain, ""}, true
	}
	return groupKey{}, false
}

// groupKeys are the groups of a namespace ("" for all), sorted: one per
// Service a StatefulSet or a subdomain pod names, one per StatefulSet that
// names none.
func (x *explainer) groupKeys(ns string) []groupKey {
	seen := map[groupKey]bool{}
	var keys []groupKey
	add := func(k groupKey) {
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	for _, sts := range x.objs.StatefulSets {
		if ns == "" || sts.Namespace == ns {
			add(groupKey{sts.Namespace, sts.Spec.ServiceName, orphanName(sts)})
		}
	}
	for _, p := range x.objs.Pods {
		if (ns == "" || p.Namespace == ns) && p.Spec.Subdomain != "" && x.ownerSet(p) == nil {
			add(groupKey{p.Namespace, p.Spec.Subdomain, ""})
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.namespace != b.namespace {
			return a.namespace < b.namespace
		}
		if a.service != b.service {
			return a.service < b.service
		}
		return a.orphan < b.orphan
	})
	return keys
}

// members are the pods that expect names under the group's Service, in
// StatefulSet then ordinal order, then subdomain pods by name.
func (x *explainer) members(key groupKey) (sets []*appsv1.StatefulSet, out []member) {
	sets = slices.Clone(x.groups[key])
	sort.Slice(sets, func(i, j int) bool { return sets[i].Name < sets[j].Name })
	for _, sts := range sets {
		for _, h := range rules.StatefulSetHostnames(sts) {
			m := member{sts: sts, hostname: h}
			if p := x.pod(sts.Namespace, h); p != nil && x.ownerSet(p) == sts {
				m.pod = p
			}
			out = append(out, m)
		}
	}
	if key.service == "" {
		return sets, out
	}
	var subs []member
	for _, p := range x.pods[key.namespace] {
		if p.Spec.Subdomain == key.service && x.ownerSet(p) == nil {
			subs = append(subs, member{hostname: p.Spec.Hostname, pod: p})
		}
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i].pod.Name < subs[j].pod.Name })
	return sets, append(out, subs...)
}

// memberName is how a group lists a workload.
func memberName(sts *appsv1.StatefulSet) string {
	n := len(rules.StatefulSetHostnames(sts))
	plural := "s"
	if n == 1 {
		plural = ""
	}
	return fmt.Sprintf("StatefulSet %s (%d replica%s)", sts.Name, n, plural)
}

// group explains one group; keep, when set, limits the per-pod records to
// the members it keeps (the Service's records still count every member).
func (x *explainer) group(key groupKey, keep func(member) bool) Group {
	sets, members := x.members(key)
	g := Group{Namespace: key.namespace, Service: key.service, Members: []string{}, Records: []Record{}}
	for _, sts := range sets {
		g.Members = append(g.Members, memberName(sts))
	}
	for _, m := range members {
		if m.sts == nil {
			g.Members = append(g.Members, "Pod "+m.pod.Name)
		}
	}
	if key.service == "" {
		for _, sts := range sets {
			g.Notes = append(g.Notes, x.noServiceName(sts))
		}
		return g
	}
	svc := x.service(key.namespace, key.service)
	g.ServiceState = serviceState(svc)
	s := x.newServiceView(key.namespace, key.service, svc)
	for _, m := range members {
		if keep != nil && !keep(m) {
			continue
		}
		g.Records = append(g.Records, s.podRecords(m)...)
	}
	if keep == nil || len(members) == 0 || slices.ContainsFunc(members, func(m member) bool { return keep(m) && m.sts != nil }) {
		g.Records = append(g.Records, s.serviceRecords(members)...)
	}
	g.Notes = append(g.Notes, s.portNotes()...)
	if svc != nil && !s.headless() && len(members) > 0 {
		// What CoreDNS does (test/e2e shows it), beyond the specification:
		// worth knowing before relying on it.
		g.Notes = append(g.Notes, Reason{Rule: rules.HG003, Message: fmt.Sprintf("CoreDNS answers the per-pod names under Service `%s` from its endpoints' hostnames although it is not headless; the Kubernetes DNS specification gives a ClusterIP Service no per-pod records, so another DNS server (kube-dns) may not answer them", s.name)})
	}
	if len(members) == 0 {
		g.Notes = append(g.Notes, Reason{Message: fmt.Sprintf("no StatefulSet names Service `%s` in `spec.serviceName` and no pod names it in `spec.subdomain`: no pod expects a per-pod name under it", key.service)})
	}
	var none []Reason
	g.Uses, none = x.lookups(sets, g.Records)
	g.Notes = append(g.Notes, none...)
	g.Notes = append(g.Notes, usesNotes(&g)...)
	return g
}

// lookups are the per-pod names of its own pods each StatefulSet's pod
// template's configuration looks up (env values, args, commands, the ConfigMaps it
// references), and, as notes, which StatefulSets of a group with a missing
// record look up none: missing names nobody looks up cost nothing yet,
// looked-up ones break the workload.
func (x *explainer) lookups(sets []*appsv1.StatefulSet, records []Record) ([]Use, []Reason) {
	groupMissing := slices.ContainsFunc(records, func(r Record) bool { return r.Missing })
	var uses []Use
	var none []Reason
	for _, sts := range sets {
		seen := map[string]bool{}
		for _, p := range rules.PeerNamesOf(sts, x.configMap(sts.Namespace)) {
			fqdn := rules.PodFQDN(p.Pod(), p.Service, sts.Namespace, x.domain)
			if seen[fqdn] || p.Domain != "" && p.Domain != x.domain {
				continue
			}
			seen[fqdn] = true
			u := Use{StatefulSet: sts.Name, Name: p.Name, Where: p.Source.What}
			switch {
			case p.Service != sts.Spec.ServiceName:
				u.OtherService = p.Service
			case slices.ContainsFunc(records, func(r Record) bool { return r.Name == fqdn && r.Pod != "" }):
				u.Record = fqdn
			}
			uses = append(uses, u)
		}
		if len(seen) == 0 && groupMissing {
			msg := fmt.Sprintf("the pod template of StatefulSet `%s` looks up none of its per-pod names (no env value, argument, command or referenced ConfigMap mentions them)", sts.Name)
			if x.objs.ConfigMapsUnread != "" {
				msg += "; " + x.objs.ConfigMapsUnread
			}
			none = append(none, Reason{Message: msg})
		}
	}
	return uses, none
}

// usesNotes say, per StatefulSet of the group, which names its
// configuration looks up and whether each resolves (after Resolve: per the
// DNS server's answers), when a record of the group is missing or a
// looked-up name does not resolve.
func usesNotes(g *Group) []Reason {
	missing := func(name string) bool {
		i := slices.IndexFunc(g.Records, func(r Record) bool { return r.Name == name && r.Pod != "" })
		return i < 0 || g.Records[i].Missing
	}
	groupMissing := slices.ContainsFunc(g.Records, func(r Record) bool { return r.Missing })
	var out []Reason
	for _, set := range setsOf(g.Uses) {
		var parts []string
		broken, noPod := false, false
		for _, u := range g.Uses {
			if u.StatefulSet != set {
				continue
			}
			state := "resolves"
			switch {
			case u.OtherService != "":
				state, noPod = fmt.Sprintf("goes through Service `%s`, under which the pods have no names (their subdomain is `%s`)", u.OtherService, g.Service), true
			case u.Record == "":
				state, noPod = "matches no pod of the StatefulSet", true
			case missing(u.Record):
				state = "does not resolve"
			}
			broken = broken || state != "resolves"
			parts = append(parts, fmt.Sprintf("`%s` (%s) %s", u.Name, u.Where, state))
		}
		if !broken && !groupMissing {
			continue
		}
		msg := fmt.Sprintf("the pod template of StatefulSet `%s` looks up its per-pod names: %s", set, strings.Join(parts, "; "))
		r := Reason{Message: msg, uses: true}
		switch {
		case noPod:
			r = reasonOf(rules.HG013, msg)
			r.uses = true
		case broken:
			r.Fix = "Make the names it looks up resolve: the reasons above say why they do not."
		}
		out = append(out, r)
	}
	return out
}

// setsOf are the StatefulSets of uses, in order.
func setsOf(uses []Use) []string {
	var out []string
	for _, u := range uses {
		if !slices.Contains(out, u.StatefulSet) {
			out = append(out, u.StatefulSet)
		}
	}
	return out
}

// configMap finds a ConfigMap of ns among the objects read.
func (x *explainer) configMap(ns string) func(string) *corev1.ConfigMap {
	return func(name string) *corev1.ConfigMap { return x.cmByKey[ns+"/"+name] }
}

func (x *explainer) noServiceName(sts *appsv1.StatefulSet) Reason {
	rule, _ := rules.Default().Get(rules.HG001)
	msg := fmt.Sprintf("StatefulSet `%s` has no `spec.serviceName`: its pods get hostnames (%s) but no subdomain, so no per-pod DNS names", sts.Name, strings.Join(rules.StatefulSetHostnames(sts), ", "))
	var headless []string
	for _, svc := range x.objs.Services {
		if svc.Namespace == sts.Namespace && rules.IsHeadless(svc) && rules.Selects(svc.Spec.Selector, sts.Spec.Template.Labels) {
			headless = append(headless, "`"+svc.Name+"`")
		}
	}
	if len(headless) > 0 {
		msg += fmt.Sprintf("; headless Service %s selects them", strings.Join(headless, ", "))
	}
	return ruleReason(rule, msg)
}

// ruleReason is a Reason for a broken rule: the rule's remediation and docs.
func ruleReason(rule *rules.Rule, msg string) Reason {
	return Reason{Rule: rule.ID, Message: msg, Fix: rule.Remediation + " (" + rule.DocsURL() + ")"}
}

func reasonOf(id, msg string) Reason {
	rule, _ := rules.Default().Get(id)
	return ruleReason(rule, msg)
}

func serviceState(svc *corev1.Service) string {
	switch {
	case svc == nil:
		return "missing"
	case rules.IsHeadless(svc):
		return "headless"
	case svc.Spec.Type != "" && svc.Spec.Type != corev1.ServiceTypeClusterIP:
		return "type " + string(svc.Spec.Type)
	default:
		return "ClusterIP " + svc.Spec.ClusterIP
	}
}

// family is the record type of an address: A or AAAA.
func family(ip string) string {
	if a, err := netip.ParseAddr(ip); err == nil && a.Is6() && !a.Is4In6() {
		return "AAAA"
	}
	return "A"
}
