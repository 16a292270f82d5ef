package rules

import "strings"

// DNSLoss is a set of the DNS answers a StatefulSet's pods lose when a rule
// is broken, as CoreDNS (the `kubernetes` plugin over the EndpointSlices the
// controller manager makes) answers them. test/e2e breaks each rule in a real
// cluster and compares what CoreDNS answers with the rule's claim.
type DNSLoss uint8

const (
	// LosesPods means the pods are never created, so nothing resolves.
	LosesPods DNSLoss = 1 << iota
	// LosesPodAddresses means the Service name does not return one A record per pod.
	LosesPodAddresses
	// LosesHostnames means `<pod>.<service>.<namespace>.svc` does not resolve to the pod.
	LosesHostnames
	// LosesSRV means `_<port>._<proto>.<service>` does not list every pod for a port.
	LosesSRV
	// AddsStrangers means nothing is missing, but the Service name also
	// returns the pods of another workload.
	AddsStrangers
)

// dnsLossText is the docs wording of each DNSLoss bit, in bit order.
var dnsLossText = []struct {
	bit  DNSLoss
	text string
}{
	{LosesPods, "no pods"},
	{LosesPodAddresses, "no A record per pod"},
	{LosesHostnames, "no hostname record"},
	{LosesSRV, "no SRV record for a port"},
	{AddsStrangers, "extra A records (other workloads' pods)"},
}

// String renders the set the way docs/rules.md prints it, e.g.
// "no A record per pod, no hostname record", or "nothing missing".
func (l DNSLoss) String() string {
	var parts []string
	for _, t := range dnsLossText {
		if l&t.bit != 0 {
			parts = append(parts, t.text)
		}
	}
	if len(parts) == 0 {
		return "nothing missing"
	}
	return strings.Join(parts, ", ")
}

// BreaksNames reports whether the pods lose their per-pod DNS names (or
// do not exist): the losses a rule may deny for. Losing SRV records or
// gaining extra addresses is only worth a warning.
func (l DNSLoss) BreaksNames() bool {
	return l&(LosesPods|LosesPodAddresses|LosesHostnames) != 0
}

// DNSCase is one way of breaking a rule and what CoreDNS then answers.
type DNSCase struct {
	// Case names the breakage, e.g. "named `targetPort`"; test/e2e has a
	// scenario for each Case of each rule.
	Case string
	// Loss is what the pods lose in DNS.
	Loss DNSLoss
}

// WorstDNSLoss is the union of the losses of every case of the rule.
func (r *Rule) WorstDNSLoss() DNSLoss {
	var l DNSLoss
	for _, c := range r.DNS {
		l |= c.Loss
	}
	return l
}
