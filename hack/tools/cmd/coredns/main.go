// Command coredns is CoreDNS from the pinned github.com/coredns/coredns
// module with only the plugins the test cluster's Corefile uses
// (test/cluster/components.go: bind, errors, log, ready, kubernetes), built
// into bin/coredns by hack/tools.mk. Upstream's main links every plugin it
// ships (cloud DNS providers, tracing exporters, etcd, ...), which is most
// of its build time and none of what the tests run. A plugin the Corefile
// names but this binary lacks fails CoreDNS's start with "unknown
// directive", so adding one to the Corefile means adding it here.
package main

import (
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"

	"github.com/coredns/coredns/coremain"
)

func main() {
	coremain.Run()
}
