package dnsexplain

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/headless-guard/headless-guard/rules"
)

// serviceView is one Service name of a namespace (the Service may not
// exist) with its EndpointSlices: what CoreDNS's `kubernetes` plugin
// answers under it.
type serviceView struct {
	x         *explainer
	namespace string
	name      string
	svc       *corev1.Service
	slices    []*discoveryv1.EndpointSlice
}

func (x *explainer) newServiceView(ns, name string, svc *corev1.Service) *serviceView {
	s := &serviceView{x: x, namespace: ns, name: name, svc: svc}
	for _, sl := range x.slices[ns] {
		if sl.Labels[discoveryv1.LabelServiceName] == name {
			s.slices = append(s.slices, sl)
		}
	}
	sort.Slice(s.slices, func(i, j int) bool { return s.slices[i].Name < s.slices[j].Name })
	return s
}

func (s *serviceView) fqdn() string { return rules.ServiceFQDN(s.name, s.namespace, s.x.domain) }

func (s *serviceView) headless() bool { return s.svc != nil && rules.IsHeadless(s.svc) }

// types are the record types the Service answers: one per IP family it
// has (the EndpointSlice controller makes slices per family of the
// Service), A when it does not say.
func (s *serviceView) types() []string {
	if s.svc == nil || len(s.svc.Spec.IPFamilies) == 0 {
		return []string{"A"}
	}
	var out []string
	for _, f := range s.svc.Spec.IPFamilies {
		if f == corev1.IPv6Protocol {
			out = append(out, "AAAA")
		} else {
			out = append(out, "A")
		}
	}
	return out
}

// ready reports whether CoreDNS publishes an endpoint: Ready true, or
// unset ("unknown, interpret as ready" in the EndpointSlice API and in
// CoreDNS).
func ready(ep *discoveryv1.Endpoint) bool {
	return ep.Conditions.Ready == nil || *ep.Conditions.Ready
}

// endpointHostname is the first label CoreDNS gives an endpoint: its
// hostname, else its address with dashes.
func endpointHostname(ep *discoveryv1.Endpoint, addr string) string {
	if ep.Hostname != nil && *ep.Hostname != "" {
		return *ep.Hostname
	}
	if strings.Contains(addr, ":") {
		h := strings.ReplaceAll(addr, ":", "-")
		if strings.HasSuffix(h, "-") {
			h += "0"
		}
		return h
	}
	return strings.ReplaceAll(addr, ".", "-")
}

// published calls fn for every address CoreDNS answers from the slices,
// with its endpoint and slice.
func (s *serviceView) published(fn func(sl *discoveryv1.EndpointSlice, ep *discoveryv1.Endpoint, addr string)) {
	for _, sl := range s.slices {
		for i := range sl.Endpoints {
			ep := &sl.Endpoints[i]
			if !ready(ep) {
				continue
			}
			for _, a := range ep.Addresses {
				fn(sl, ep, a)
			}
		}
	}
}

// endpointOf finds pod's endpoint in the Service's slices: by its
// targetRef, else by address.
func (s *serviceView) endpointOf(pod *corev1.Pod) *discoveryv1.Endpoint {
	var byAddr *discoveryv1.Endpoint
	for _, sl := range s.slices {
		for i := range sl.Endpoints {
			ep := &sl.Endpoints[i]
			if ep.TargetRef != nil && ep.TargetRef.Kind == rules.KindPod && ep.TargetRef.Name == pod.Name {
				return ep
			}
			if byAddr == nil && pod.Status.PodIP != "" && slices.Contains(ep.Addresses, pod.Status.PodIP) {
				byAddr = ep
			}
		}
	}
	return byAddr
}

// podIPs are the pod's addresses of one record type.
func podIPs(pod *corev1.Pod, typ string) []string {
	if pod == nil {
		return nil
	}
	var out []string
	for _, ip := range pod.Status.PodIPs {
		if family(ip.IP) == typ {
			out = append(out, ip.IP)
		}
	}
	if len(out) == 0 && pod.Status.PodIP != "" && family(pod.Status.PodIP) == typ {
		out = append(out, pod.Status.PodIP)
	}
	return out
}

// podName is the name of the member's pod, existing or not.
func (m member) podName() string {
	if m.pod != nil {
		return m.pod.Name
	}
	return m.hostname
}

// label is the first label of the member's per-pod name: its hostname,
// or, for a subdomain pod without `spec.hostname`, its pod name (the name
// the pod believes it has).
func (m member) label() string {
	if m.hostname != "" {
		return m.hostname
	}
	return m.pod.Name
}

// podRecords are the per-pod records of one member: CoreDNS answers
// `<hostname>.<service>` from the endpoints that carry the hostname,
// headless Service or not.
func (s *serviceView) podRecords(m member) []Record {
	name := rules.PodFQDN(m.label(), s.name, s.namespace, s.x.domain)
	var out []Record
	for _, typ := range s.types() {
		rec := Record{Name: name, Type: typ, Pod: m.podName(), Expected: podIPs(m.pod, typ), Objects: []string{}}
		s.published(func(_ *discoveryv1.EndpointSlice, ep *discoveryv1.Endpoint, addr string) {
			if family(addr) == typ && endpointHostname(ep, addr) == m.label() && !slices.Contains(rec.Objects, addr) {
				rec.Objects = append(rec.Objects, addr)
			}
		})
		finish(&rec)
		if rec.Missing {
			rec.Reasons = s.diagnose(m, name)
			if len(rec.Reasons) == 0 {
				rec.Reasons = []Reason{{Message: fmt.Sprintf("the EndpointSlices of Service `%s` do not publish %s under hostname `%s` yet: the EndpointSlice controller has not caught up", s.name, strings.Join(rec.Expected, ", "), m.label())}}
			}
		}
		if extra := without(rec.Objects, rec.Expected); len(extra) > 0 {
			rec.Reasons = append(rec.Reasons, Reason{Message: fmt.Sprintf("%s also answers %s: another endpoint of Service `%s` carries hostname `%s`", shortName(name, s.namespace, s.x.domain), strings.Join(extra, ", "), s.name, m.label()),
				Fix: "Give each pod that names this Service in `spec.subdomain` its own `spec.hostname`."})
		}
		out = append(out, rec)
	}
	return out
}

// finish sorts the answers and sets Missing: an expected answer the
// objects lack, or no expected answer at all (the pod has no IP).
func finish(rec *Record) {
	sort.Strings(rec.Expected)
	sort.Strings(rec.Objects)
	if rec.Expected == nil {
		rec.Expected = []string{}
	}
	rec.Missing = len(rec.Expected) == 0 || len(without(rec.Expected, rec.Objects)) > 0
}

// without is a minus b.
func without(a, b []string) []string {
	var out []string
	for _, v := range a {
		if !slices.Contains(b, v) {
			out = append(out, v)
		}
	}
	return out
}

// serviceRecords are the Service's own A/AAAA records and the SRV records
// of its named ports, as the members should see them.
func (s *serviceView) serviceRecords(members []member) []Record {
	var out []Record
	for _, typ := range s.types() {
		rec := Record{Name: s.fqdn(), Type: typ, Objects: []string{}}
		owner := map[string]member{}
		for _, m := range members {
			for _, ip := range podIPs(m.pod, typ) {
				rec.Expected = append(rec.Expected, ip)
				owner[ip] = m
			}
		}
		if s.headless() {
			s.published(func(_ *discoveryv1.EndpointSlice, _ *discoveryv1.Endpoint, addr string) {
				if family(addr) == typ && !slices.Contains(rec.Objects, addr) {
					rec.Objects = append(rec.Objects, addr)
				}
			})
		} else if s.svc != nil {
			for _, ip := range s.svc.Spec.ClusterIPs {
				if family(ip) == typ {
					rec.Objects = append(rec.Objects, ip)
				}
			}
		}
		finish(&rec)
		rec.Missing = rec.Missing && len(members) > 0
		for _, ip := range without(rec.Expected, rec.Objects) {
			m := owner[ip]
			rec.Reasons = appendNew(rec.Reasons, s.diagnose(m, rules.PodFQDN(m.label(), s.name, s.namespace, s.x.domain))...)
		}
		if len(rec.Expected) == 0 && len(members) > 0 {
			for _, m := range members {
				rec.Reasons = appendNew(rec.Reasons, s.diagnose(m, rules.PodFQDN(m.label(), s.name, s.namespace, s.x.domain))...)
			}
		}
		if extra := without(rec.Objects, rec.Expected); len(extra) > 0 {
			rec.Reasons = appendNew(rec.Reasons, s.extraReason(func(_ *discoveryv1.EndpointSlice, _ *discoveryv1.Endpoint, addr string) bool {
				return family(addr) == typ && slices.Contains(extra, addr)
			}))
		}
		out = append(out, rec)
	}
	if s.svc == nil {
		return out
	}
	for i := range s.svc.Spec.Ports {
		sp := &s.svc.Spec.Ports[i]
		if sp.Name != "" {
			out = append(out, s.srvRecord(sp, members))
		}
	}
	return out
}

// srvRecord is the SRV record of one named port: a target per ready
// endpoint that has the port (a headless Service), or the Service itself
// (a ClusterIP one).
func (s *serviceView) srvRecord(sp *corev1.ServicePort, members []member) Record {
	proto := sp.Protocol
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	rec := Record{Name: rules.SRVName(sp, s.name, s.namespace, s.x.domain), Type: "SRV", Objects: []string{}}
	var unresolved []string
	for _, m := range members {
		if m.pod == nil || m.pod.Status.PodIP == "" {
			continue
		}
		target := rules.PodFQDN(m.label(), s.name, s.namespace, s.x.domain)
		if port, ok := rules.TargetPortNumber(sp, &m.pod.Spec); ok {
			rec.Expected = append(rec.Expected, target+":"+strconv.Itoa(int(port)))
		} else {
			rec.Expected = append(rec.Expected, target+":"+sp.TargetPort.String())
			unresolved = append(unresolved, m.pod.Name)
		}
	}
	if s.headless() {
		s.published(func(sl *discoveryv1.EndpointSlice, ep *discoveryv1.Endpoint, addr string) {
			for _, p := range sl.Ports {
				if p.Name == nil || *p.Name != sp.Name || p.Port == nil || (p.Protocol != nil && *p.Protocol != proto) {
					continue
				}
				v := rules.PodFQDN(endpointHostname(ep, addr), s.name, s.namespace, s.x.domain) + ":" + strconv.Itoa(int(*p.Port))
				if !slices.Contains(rec.Objects, v) {
					rec.Objects = append(rec.Objects, v)
				}
			}
		})
	} else {
		rec.Objects = append(rec.Objects, s.fqdn()+":"+strconv.Itoa(int(sp.Port)))
	}
	finish(&rec)
	rec.Missing = rec.Missing && len(rec.Expected) > 0
	if len(unresolved) > 0 {
		rec.Reasons = append(rec.Reasons, reasonOf(rules.HG006, fmt.Sprintf("port `%s` of Service `%s` has `targetPort: %s`, which no container port of pod %s has: its endpoint lacks the port, so the SRV record leaves it out", sp.Name, s.name, sp.TargetPort.String(), quoteJoin(unresolved))))
	}
	for _, m := range members {
		if m.pod == nil || m.pod.Status.PodIP == "" || slices.Contains(unresolved, m.pod.Name) {
			continue
		}
		want := rules.PodFQDN(m.label(), s.name, s.namespace, s.x.domain)
		if !slices.ContainsFunc(rec.Objects, func(v string) bool { return strings.HasPrefix(v, want+":") }) {
			rec.Reasons = appendNew(rec.Reasons, s.diagnose(m, want)...)
		}
	}
	if s.svc != nil && !s.headless() && len(rec.Expected) > 0 {
		rec.Reasons = appendNew(rec.Reasons, s.notHeadless())
	} else if extra := without(rec.Objects, rec.Expected); len(extra) > 0 {
		rec.Reasons = appendNew(rec.Reasons, s.extraReason(func(sl *discoveryv1.EndpointSlice, ep *discoveryv1.Endpoint, addr string) bool {
			target := rules.PodFQDN(endpointHostname(ep, addr), s.name, s.namespace, s.x.domain)
			return slices.ContainsFunc(extra, func(v string) bool { return strings.HasPrefix(v, target+":") })
		}))
	}
	return rec
}

// extraReason says whose endpoints (those extra selects) the Service's
// records answer besides the members' pods: the cluster IP of a Service that is not headless (HG003),
// or the pods of other workloads its selector also selects (HG008).
func (s *serviceView) extraReason(extra func(*discoveryv1.EndpointSlice, *discoveryv1.Endpoint, string) bool) Reason {
	if !s.headless() {
		return s.notHeadless()
	}
	var whose []string
	s.published(func(sl *discoveryv1.EndpointSlice, ep *discoveryv1.Endpoint, addr string) {
		if !extra(sl, ep, addr) {
			return
		}
		w := addr
		if ep.TargetRef != nil {
			w = fmt.Sprintf("pod `%s` (%s)", ep.TargetRef.Name, addr)
		}
		if !slices.Contains(whose, w) {
			whose = append(whose, w)
		}
	})
	return reasonOf(rules.HG008, fmt.Sprintf("Service `%s` also answers %s: its selector `%s` selects pods of no workload that names it", s.name, strings.Join(whose, ", "), labels.Set(s.svc.Spec.Selector).String()))
}

func (s *serviceView) notHeadless() Reason {
	if s.svc.Spec.Type != "" && s.svc.Spec.Type != corev1.ServiceTypeClusterIP {
		return reasonOf(rules.HG003, fmt.Sprintf("Service `%s` is of type %s, not a headless ClusterIP Service: its name answers %s instead of one address per pod, and its SRV records name the Service instead of each pod", s.name, s.svc.Spec.Type, s.svc.Spec.ClusterIP))
	}
	return reasonOf(rules.HG003, fmt.Sprintf("Service `%s` is not headless (`clusterIP: %s`): its name answers the cluster IP instead of one address per pod, and its SRV records name the Service instead of each pod", s.name, s.svc.Spec.ClusterIP))
}

// portNotes are what the Service's ports cost the whole group: an unnamed
// port has no SRV record at all (HG005).
func (s *serviceView) portNotes() []Reason {
	if s.svc == nil {
		return nil
	}
	var out []Reason
	for i := range s.svc.Spec.Ports {
		sp := &s.svc.Spec.Ports[i]
		if sp.Name == "" {
			proto := sp.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			out = append(out, reasonOf(rules.HG005, fmt.Sprintf("port %d/%s of Service `%s` has no name: SRV records `_<port>._%s.%s` exist only for named ports, so it has none", sp.Port, proto, s.name, strings.ToLower(string(proto)), s.name)))
		}
	}
	return out
}

func appendNew(list []Reason, rs ...Reason) []Reason {
	for _, r := range rs {
		if !slices.Contains(list, r) {
			list = append(list, r)
		}
	}
	return list
}

func quoteJoin(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = "`" + n + "`"
	}
	return strings.Join(q, ", ")
}
