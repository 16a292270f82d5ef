// Command nopwebhook is the do-nothing controller-runtime webhook the load
// benchmarks compare headless-guard with: same server, TLS settings and
// paths, every review allowed. It takes the guard's flag names.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/headless-guard/headless-guard/test/load"
)

func main() {
	var o load.NopOptions
	flag.StringVar(&o.Host, "webhook-host", "127.0.0.1", "listen address")
	flag.IntVar(&o.Port, "webhook-port", 9443, "listen port")
	flag.StringVar(&o.CertDir, "webhook-cert-path", "", "directory holding tls.crt and tls.key")
	flag.Parse()
	ctrl.SetLogger(logr.Discard())
	if err := load.ServeNop(ctrl.SetupSignalHandler(), o); err != nil {
		fmt.Fprintln(os.Stderr, "nopwebhook:", err)
		os.Exit(1)
	}
}
