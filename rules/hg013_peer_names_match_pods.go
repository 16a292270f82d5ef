package rules

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var hg013PeerNamesMatchPods = &Rule{
	ID:          HG013,
	Name:        "peer-names-match-pods",
	Summary:     "The per-pod DNS names in a StatefulSet's configuration (env values, args, command and the ConfigMaps its pod template references) name pods that will exist.",
	Why:         "Software that lists its peers by their per-pod names (`<set>-<ordinal>.<service>`) looks them up to form its cluster. A name through another Service than `spec.serviceName`, in another namespace, with an ordinal the replicas do not reach, or of a StatefulSet that no longer exists under that Service (renamed) never resolves, while the pods themselves keep their names: nothing in the cluster says so until the software waits for a peer that is not there. Names of other domains than the cluster's, and of other StatefulSets through other Services, are not judged. Where `spec.replicas` is unset, ordinals are not judged. At admission, the ConfigMaps are read only when another rule needed them for this request (the offline checker has them all).",
	Remediation: "Make each per-pod name in the configuration `<statefulset>-<ordinal>.<spec.serviceName>` with an ordinal below `spec.replicas`, in the StatefulSet's namespace, or change `spec.serviceName`, the replicas or the name to match.",
	Kinds:       []string{KindStatefulSet},
	Operations:  []Operation{Create, Update},
	Default:     ActionWarn,
	DNS: []DNSCase{
		// The pods keep every record: what fails is the configured name.
		{Case: "per-pod name through another Service in an env value", Loss: 0},
	},
	Check: func(c *Context) []Problem {
		sts := statefulSetOf(c)
		if sts == nil || sts.Spec.ServiceName == "" {
			return nil
		}
		// The offline index holds every ConfigMap in memory; at admission
		// a ConfigMap costs a live read, made only where a denial depends
		// on it (evidence), and reused here.
		_, offline := c.lookup.(*Index)
		scan := c.configScan(sts, offline)
		var out []Problem
		seen := map[string]bool{}
		for _, p := range scan.names {
			id := p.Name + "|" + p.Source.Path.String()
			if seen[id] {
				continue
			}
			seen[id] = true
			detail := peerNameDefect(c, sts, p)
			if detail == "" {
				continue
			}
			err := field.Invalid(p.Source.Path, p.Name, fmt.Sprintf("%s (%s)", detail, p.Source.What))
			out = append(out, Problem{Error: err, Key: key(HG013, sts.Namespace, sts.Name, p.Name, p.Source.Path.String())})
		}
		return out
	},
}

// peerNameDefect says why p names no pod that will exist, or "" when it
// does, or when it is not this rule's to judge.
func peerNameDefect(c *Context, sts *appsv1.StatefulSet, p PeerName) string {
	if p.Domain != "" && p.Domain != c.Policy.clusterDomain() {
		return ""
	}
	sameNamespace := p.Namespace == "" || p.Namespace == sts.Namespace
	service := sts.Spec.ServiceName
	switch {
	case p.Set == sts.Name && p.Service != service && sameNamespace:
		return fmt.Sprintf("must name the pods through `spec.serviceName`: `%s` names pod `%s` of this StatefulSet through Service `%s`, but its pods' names are `%s.%s`", p.Name, p.Pod(), p.Service, p.Pod(), service)
	case p.Set == sts.Name && p.Service == service && !sameNamespace && p.Qualified:
		return fmt.Sprintf("must name the StatefulSet's namespace: `%s` names namespace `%s`, but the pods of this StatefulSet run in `%s`", p.Name, p.Namespace, sts.Namespace)
	case p.Set == sts.Name && p.Service == service && sameNamespace:
		if sts.Spec.Replicas == nil {
			return ""
		}
		start := int32(0)
		if sts.Spec.Ordinals != nil {
			start = sts.Spec.Ordinals.Start
		}
		replicas := *sts.Spec.Replicas
		if int64(p.Ordinal) >= int64(start) && int64(p.Ordinal) < int64(start)+int64(replicas) {
			return ""
		}
		if replicas == 0 {
			return fmt.Sprintf("must name a pod that will exist: `%s` names pod `%s`, but `spec.replicas` is 0", p.Name, p.Pod())
		}
		return fmt.Sprintf("must name a pod that will exist: `%s` names pod `%s`, but `spec.replicas: %d` makes pods `%s-%d` to `%s-%d`", p.Name, p.Pod(), replicas, sts.Name, start, sts.Name, start+replicas-1)
	case p.Set != sts.Name && p.Service == service && sameNamespace:
		for _, other := range c.StatefulSetsFor(sts.Namespace, service) {
			if other.Name == p.Set {
				return ""
			}
		}
		return fmt.Sprintf("must name a pod that will exist: `%s` names a pod of StatefulSet `%s` through Service `%s`, but no StatefulSet `%s` in namespace `%s` has `spec.serviceName: %s` (was it renamed to `%s`?)", p.Name, p.Set, service, p.Set, sts.Namespace, service, sts.Name)
	}
	return ""
}
