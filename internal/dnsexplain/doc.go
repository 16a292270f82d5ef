// Package dnsexplain says, from a cluster's own objects, which DNS names
// the pods of StatefulSets (and pods that set `spec.subdomain`) should have,
// what CoreDNS answers for them now, and why a name is missing: the
// reasoning of `headless-guard dns`.
//
// What DNS answers follows the Kubernetes DNS specification
// (kubernetes/dns, docs/specification.md) as CoreDNS's `kubernetes` plugin
// implements it over EndpointSlices: a headless Service's A/AAAA records
// are the addresses of its ready endpoints (ready includes not-ready pods
// when `publishNotReadyAddresses` is true, never terminating ones), an
// endpoint with a `hostname` also gets `<hostname>.<service>.<namespace>.svc.<domain>`,
// and each named port gets SRV records `_<port>._<proto>.<service>...`
// whose targets are those names. A ClusterIP Service answers its cluster
// IP and nothing per pod.
//
// Explain is pure: objects in, a Report out. Read fetches the objects from
// a cluster (get and list only) and Resolve asks a DNS server what it
// answers, so that Render can print the three side by side.
package dnsexplain
