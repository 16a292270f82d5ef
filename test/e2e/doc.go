// Package e2e proves the DNS claims of the seed documents
// (../shared/seeds/) end to end: every test runs against one small but
// real cluster (test/cluster with Options.Full: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, kwok with a fake Node, CoreDNS)
// with headless-guard serving its webhooks at default flags, applies the
// seeds' manifests with the real kubectl through the webhooks, and asks
// CoreDNS what a pod of the cluster would get from nslookup or dig.
// TestRulesDNS breaks every rule of the registry the ways its DNS cases
// name, and fails when CoreDNS answers other than the rule claims (the
// "what DNS answers" column of docs/rules.md, which the rules' defaults
// follow).
//
// `make e2e` runs it; `make run` is the same cluster kept up by hand.
package e2e
