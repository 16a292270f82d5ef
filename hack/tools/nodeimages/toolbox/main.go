// Command toolbox is the test node's image for its pods: what the seeds'
// images (nginx, tutum/dnsutils, busybox) are used for there, and no more.
//
//	toolbox nslookup NAME   resolve NAME as the seeds' nslookup does and
//	                        print the answer as they print it
//	toolbox serve ADDR      answer HTTP on ADDR (the default: serve :80)
//	toolbox touch PATH      create PATH (a write under / on a read-only
//	                        root filesystem fails)
//
// Invoked as nslookup, serve or touch (the image links /bin/<name> to it),
// it runs that command.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	args := os.Args
	if filepath.Base(args[0]) == "toolbox" {
		args = args[1:]
	}
	if len(args) == 0 {
		usage()
	}
	var err error
	switch filepath.Base(args[0]) {
	case "nslookup":
		if len(args) != 2 {
			usage()
		}
		err = nslookup(args[1])
	case "serve":
		addr := ":80"
		if len(args) > 1 {
			addr = args[1]
		}
		err = serve(addr)
	case "touch":
		if len(args) != 2 {
			usage()
		}
		err = os.WriteFile(args[1], []byte("written\n"), 0o644)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: toolbox nslookup NAME | serve [ADDR] | touch PATH")
	os.Exit(2)
}

// resolvConf is what nslookup reads of /etc/resolv.conf.
type resolvConf struct {
	server string
	search []string
	ndots  int
}

func readResolvConf() (resolvConf, error) {
	conf := resolvConf{ndots: 1}
	data, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		return conf, err
	}
	for line := range strings.Lines(string(data)) {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if conf.server == "" {
				conf.server = f[1]
			}
		case "search":
			conf.search = f[1:]
		case "options":
			for _, o := range f[1:] {
				if v, ok := strings.CutPrefix(o, "ndots:"); ok {
					if n, err := strconv.Atoi(v); err == nil {
						conf.ndots = n
					}
				}
			}
		}
	}
	if conf.server == "" {
		return conf, errors.New("/etc/resolv.conf names no nameserver")
	}
	return conf, nil
}

// nslookup asks the first nameserver of /etc/resolv.conf for the A
// records of name, through the search list as the resolver does (a name
// with fewer than ndots dots is tried in each search domain first), and
// prints the first answer as tutum/dnsutils' nslookup printed it in the
// seed document:
//
//	Server:         10.247.3.10
//	Address:        10.247.3.10#53
//	Name:   nginx-0.nginx.default.svc.cluster.local
//	Address: 172.16.0.31
func nslookup(name string) error {
	conf, err := readResolvConf()
	if err != nil {
		return err
	}
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, net.JoinHostPort(conf.server, "53"))
	}}
	var tries []string
	if strings.HasSuffix(name, ".") {
		tries = []string{name}
	} else {
		for _, s := range conf.search {
			tries = append(tries, name+"."+s+".")
		}
		if strings.Count(name, ".") >= conf.ndots {
			tries = slices.Insert(tries, 0, name+".")
		} else {
			tries = append(tries, name+".")
		}
	}
	fmt.Printf("Server:         %s\nAddress:        %s#53\n", conf.server, conf.server)
	for _, fqdn := range tries {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		addrs, err := r.LookupIP(ctx, "ip4", fqdn)
		cancel()
		var dnsErr *net.DNSError
		if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
			continue
		}
		if err != nil {
			fmt.Printf(";; connection timed out; no servers could be reached\n\n")
			return err
		}
		for _, a := range addrs {
			fmt.Printf("Name:   %s\nAddress: %s\n", strings.TrimSuffix(fqdn, "."), a)
		}
		fmt.Println()
		return nil
	}
	fmt.Printf("** server can't find %s: NXDOMAIN\n\n", name)
	return fmt.Errorf("%s: NXDOMAIN", name)
}

// serve answers every request with the host name until SIGTERM.
func serve(addr string) error {
	host, _ := os.Hostname()
	srv := &http.Server{Addr: addr, ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, host)
	})}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
