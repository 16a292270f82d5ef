package rules

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	// maxLabelLength is the longest DNS label and label value.
	maxLabelLength = 63
	// maxFQDNLength is the longest DNS name.
	maxFQDNLength = 253
	// revisionHashSuffix is "-" plus the longest hash the StatefulSet
	// controller appends in the `controller-revision-hash` label.
	revisionHashSuffix = 11
)

var hg007NameLengths = &Rule{
	ID:          HG007,
	Name:        "name-lengths",
	Summary:     "The StatefulSet's name leaves room for the revision label, the pod hostnames and the pod FQDNs.",
	Why:         "The controller labels pods `controller-revision-hash: <name>-<hash>` (up to 11 more characters, at most 63 in all) and names them `<name>-<ordinal>`, which must be a DNS label of at most 63 characters; `<pod>.<service>.<namespace>.svc.<cluster-domain>` must fit in 253. A longer name is accepted, then the pods fail to be created or get no DNS name.",
	Remediation: "Shorten `metadata.name` (at most 52 characters), or the Service or namespace name for the FQDN.",
	Kinds:       []string{KindStatefulSet},
	Operations:  []Operation{Create},
	Default:     ActionDeny,
	DNS: []DNSCase{
		{Case: "StatefulSet name of 60 characters", Loss: LosesPods | LosesPodAddresses | LosesHostnames | LosesSRV},
	},
	Check: func(c *Context) []Problem {
		sts := statefulSetOf(c)
		if sts == nil || sts.Name == "" {
			return nil
		}
		namePath := field.NewPath("metadata", "name")
		var out []Problem
		if n := len(sts.Name) + revisionHashSuffix; n > maxLabelLength {
			out = append(out, Problem{Error: field.TooLong(namePath, sts.Name, maxLabelLength-revisionHashSuffix)})
			out[len(out)-1].Detail = fmt.Sprintf("must be no more than %d characters: the pods' `controller-revision-hash` label `<name>-<hash>` would be %d characters, over the limit of %d", maxLabelLength-revisionHashSuffix, n, maxLabelLength)
		}
		replicas := int32(1)
		if sts.Spec.Replicas != nil {
			replicas = *sts.Spec.Replicas
		}
		start := int32(0)
		if sts.Spec.Ordinals != nil {
			start = sts.Spec.Ordinals.Start
		}
		last := start + max(replicas, 1) - 1
		host := fmt.Sprintf("%s-%d", sts.Name, last)
		if len(host) > maxLabelLength {
			out = append(out, Problem{Error: field.Invalid(namePath, sts.Name, fmt.Sprintf("must leave room for the pod hostname `<name>-<ordinal>`: `%s` is %d characters, over the DNS label limit of %d", host, len(host), maxLabelLength))})
		}
		if sts.Spec.ServiceName != "" {
			fqdn := fmt.Sprintf("%s.%s.%s.svc.%s", host, sts.Spec.ServiceName, sts.Namespace, c.Policy.clusterDomain())
			if len(fqdn) > maxFQDNLength {
				out = append(out, Problem{Error: field.Invalid(namePath, sts.Name, fmt.Sprintf("must leave room for the pod FQDN: `%s` is %d characters, over the DNS limit of %d", fqdn, len(fqdn), maxFQDNLength))})
			}
		}
		return out
	},
}
