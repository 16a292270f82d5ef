package cli

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/internal/check"
	"github.com/headless-guard/headless-guard/internal/dnsexplain"
	"github.com/headless-guard/headless-guard/rules"
)

// DNSOptions are the flags of `headless-guard dns`.
type DNSOptions struct {
	Namespace     string
	AllNamespaces bool
	ClusterDomain string
	Resolve       string
	Output        string
	Kubeconfig    string
	Context       string

	target dnsexplain.Target
}

// AddFlags registers the options on fs.
func (o *DNSOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringVarP(&o.Namespace, "namespace", "n", "", "namespace of the target (default: the kubeconfig context's, else default)")
	fs.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", false, "explain every StatefulSet and subdomain pod of every namespace")
	fs.StringVar(&o.ClusterDomain, "cluster-domain", "", "cluster DNS domain (default: read from ConfigMap kube-system/coredns or kube-system/kubelet-config, else "+rules.DefaultClusterDomain+")")
	fs.StringVar(&o.Resolve, "resolve", "", "also ask the DNS server at ADDR (host:port, e.g. 127.0.0.1:1053, or the cluster DNS Service IP from inside a pod) and print its answers beside the expected ones")
	fs.StringVarP(&o.Output, "output", "o", "text", "output format: text or json")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
	fs.StringVar(&o.Context, "context", "", "kubeconfig context")
}

// targetKinds maps what kubectl accepts for a resource type to the kind.
var targetKinds = map[string]string{
	"statefulset": rules.KindStatefulSet, "statefulsets": rules.KindStatefulSet, "sts": rules.KindStatefulSet,
	"statefulset.apps": rules.KindStatefulSet, "statefulsets.apps": rules.KindStatefulSet,
	"pod": rules.KindPod, "pods": rules.KindPod, "po": rules.KindPod,
	"service": rules.KindService, "services": rules.KindService, "svc": rules.KindService,
}

// Validate checks the options and parses the target: TYPE/NAME or TYPE
// NAME, as kubectl takes them, or nothing for the whole namespace.
func (o *DNSOptions) Validate(args []string) error {
	switch o.Output {
	case "text", "json":
	default:
		return fmt.Errorf("invalid --output %q: must be text or json", o.Output)
	}
	if o.Resolve != "" {
		addr, err := resolveAddr(o.Resolve)
		if err != nil {
			return fmt.Errorf("invalid --resolve %q: must be HOST:PORT, or an IP address or host name for port 53", o.Resolve)
		}
		o.Resolve = addr
	}
	var typ, name string
	switch len(args) {
	case 0:
	case 1:
		var ok bool
		if typ, name, ok = strings.Cut(args[0], "/"); !ok {
			return fmt.Errorf("target %q: must be TYPE/NAME (statefulset/web, pod/web-0, service/nginx-headless), or nothing for the whole namespace", args[0])
		}
	case 2:
		typ, name = args[0], args[1]
	default:
		return errors.New("too many arguments: give one TYPE/NAME, or nothing for the whole namespace")
	}
	if len(args) > 0 {
		kind, ok := targetKinds[strings.ToLower(typ)]
		if !ok || name == "" {
			return fmt.Errorf("target %q: the type must be statefulset, pod or service, with a name", strings.Join(args, " "))
		}
		if o.AllNamespaces {
			return errors.New("--all-namespaces explains whole namespaces: give no target with it")
		}
		o.target = dnsexplain.Target{Kind: kind, Name: name}
	}
	return nil
}

// NewDNSCommand returns `headless-guard dns`.
func NewDNSCommand(s Streams) *cobra.Command {
	o := &DNSOptions{}
	cmd := &cobra.Command{
		Use:   "dns [TYPE/NAME] [flags]",
		Short: "Explain from a live cluster which per-pod DNS names resolve, and why the others do not",
		Long: "dns reads a live cluster's Services, StatefulSets, Pods, EndpointSlices and, where it may, ConfigMaps\n" +
			"(list only) and prints, per pod, the names the Kubernetes DNS specification gives it\n" +
			"(<pod>.<service>.<namespace>.svc.<domain>), the Service's A/AAAA records and the SRV records of its named\n" +
			"ports: what should be answered, what the objects say CoreDNS answers now, and, for each missing or extra\n" +
			"answer, why (with the rule ID) and the fix; and which of those names the pod template's configuration\n" +
			"looks up. With --resolve it also asks that DNS server and flags every answer that differs.\n\n" +
			"Exit status: 0 every expected answer is there, 1 one is missing (a name that should resolve does not,\n" +
			"or not to every pod), 2 usage error, or the cluster or the DNS server could not be read.",
		Example: "  headless-guard dns statefulset/web -n db\n" +
			"  headless-guard dns pod/web-0\n" +
			"  headless-guard dns service/nginx-headless --resolve 127.0.0.1:1053\n" +
			"  headless-guard dns -n db -o json\n" +
			"  headless-guard dns --all-namespaces",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Validate(args); err != nil {
				return &ExitError{Code: ExitUsage, Err: err, Usage: true}
			}
			return runDNS(cmd.Context(), s, o)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runDNS(ctx context.Context, s Streams, o *DNSOptions) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, check.ClusterTimeout)
	defer cancel()
	loading := clientcmd.NewDefaultClientConfigLoadingRules()
	loading.ExplicitPath = o.Kubeconfig
	kc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(loading, &clientcmd.ConfigOverrides{CurrentContext: o.Context})
	cfg, err := kc.ClientConfig()
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("reading the kubeconfig: %w", err)}
	}
	cfg.UserAgent = "headless-guard-dns"
	c, err := client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("connecting to the cluster: %w", err)}
	}
	ns := o.Namespace
	if ns == "" && !o.AllNamespaces {
		if ns, _, err = kc.Namespace(); err != nil || ns == "" {
			ns = "default"
		}
	}
	if o.AllNamespaces {
		ns = ""
	}
	o.target.Namespace = ns

	domain, source := o.ClusterDomain, "--cluster-domain"
	if domain == "" {
		var ok bool
		if domain, source, ok = dnsexplain.ClusterDomain(ctx, c); !ok {
			domain, source = rules.DefaultClusterDomain, "the default: neither ConfigMap kube-system/coredns nor kube-system/kubelet-config says, or they may not be read; set --cluster-domain if the cluster uses another"
		}
	}

	objs, err := dnsexplain.Read(ctx, c, ns)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	rep, err := dnsexplain.Explain(objs, o.target, dnsexplain.Options{ClusterDomain: domain})
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	rep.DomainSource = source
	if o.Resolve != "" {
		if err := dnsexplain.Resolve(ctx, rep, dnsexplain.Resolver(o.Resolve), o.Resolve); err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
	}
	if o.Output == "json" {
		err = dnsexplain.RenderJSON(s.Out, rep)
	} else {
		err = dnsexplain.RenderText(s.Out, rep)
	}
	if err != nil {
		return err
	}
	if rep.Missing() {
		return &ExitError{Code: ExitFindings}
	}
	return nil
}

// resolveAddr is a DNS server address as the resolver dials it: host:port,
// port 53 when only a host (an IP address, or a name without colon) is given.
func resolveAddr(s string) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if _, perr := netip.ParseAddr(s); perr != nil && strings.Contains(s, ":") {
			return "", err
		}
		host, port = s, "53"
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 || host == "" {
		return "", fmt.Errorf("bad address %q", s)
	}
	return net.JoinHostPort(host, port), nil
}
