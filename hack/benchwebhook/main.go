// Command benchwebhook measures the admission webhook for `make bench`, on
// a real etcd + kube-apiserver (test/cluster) with the real binary, all on
// loopback:
//
//   - load: recorded AdmissionReviews posted over TLS with keep-alive at
//     fixed concurrencies, and at half the saturating rate, against
//     headless-guard and against a do-nothing controller-runtime webhook on
//     the same port, certificate and machine, run alternately;
//   - apiserver: StatefulSet create latency through kube-apiserver with the
//     webhooks registered (headless-guard, then the do-nothing webhook)
//     and not registered, in alternating blocks;
//   - scale: the guard's RSS and request latency with 1,000 then 10,000
//     Services (and 200 then 2,000 StatefulSets) in its cache.
//
// `-record DIR` instead records the AdmissionReviews of package
// test/load/reviews from the API server.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

func main() {
	ctrllog.SetLogger(logr.Discard())
	var o options
	recordDir := flag.String("record", "", "record the AdmissionReviews of test/load/reviews into this directory and exit")
	o.addFlags(flag.CommandLine)
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	if *recordDir != "" {
		err = record(ctx, *recordDir)
	} else {
		err = run(ctx, o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchwebhook:", err)
		os.Exit(1)
	}
}

// waitTLS waits until a TLS handshake with 127.0.0.1:port succeeds.
func waitTLS(ctx context.Context, port int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: time.Second}, Config: &tls.Config{InsecureSkipVerify: true}}
		conn, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			conn.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no TLS server on %s after %s: %w", addr, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
