package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/headless-guard/headless-guard/internal/dnsexplain"
	"github.com/headless-guard/headless-guard/rules"
)

func TestDNSOptionsValidate(t *testing.T) {
	successCases := []struct {
		name    string
		opts    DNSOptions
		args    []string
		target  dnsexplain.Target
		resolve string
	}{
		{"the whole namespace", DNSOptions{Output: "text"}, nil, dnsexplain.Target{}, ""},
		{"TYPE/NAME", DNSOptions{Output: "text"}, []string{"statefulset/web"}, dnsexplain.Target{Kind: rules.KindStatefulSet, Name: "web"}, ""},
		{"kubectl's short names", DNSOptions{Output: "json"}, []string{"sts/web"}, dnsexplain.Target{Kind: rules.KindStatefulSet, Name: "web"}, ""},
		{"TYPE NAME", DNSOptions{Output: "text"}, []string{"pod", "web-0"}, dnsexplain.Target{Kind: rules.KindPod, Name: "web-0"}, ""},
		{"a Service", DNSOptions{Output: "text"}, []string{"svc/nginx-headless"}, dnsexplain.Target{Kind: rules.KindService, Name: "nginx-headless"}, ""},
		{"--resolve HOST:PORT", DNSOptions{Output: "text", Resolve: "127.0.0.1:1053"}, nil, dnsexplain.Target{}, "127.0.0.1:1053"},
		{"--resolve an IP is port 53", DNSOptions{Output: "text", Resolve: "10.96.0.10"}, nil, dnsexplain.Target{}, "10.96.0.10:53"},
		{"--resolve an IPv6 address", DNSOptions{Output: "text", Resolve: "fd00::a"}, nil, dnsexplain.Target{}, "[fd00::a]:53"},
	}
	for _, tc := range successCases {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			if err := o.Validate(tc.args); err != nil {
				t.Fatal(err)
			}
			if o.target != tc.target || o.Resolve != tc.resolve {
				t.Errorf("target %+v, resolve %q; want %+v, %q", o.target, o.Resolve, tc.target, tc.resolve)
			}
		})
	}
	errorCases := []struct {
		name string
		opts DNSOptions
		args []string
		want string
	}{
		{"unknown output", DNSOptions{Output: "yaml"}, nil, "invalid --output"},
		{"a name without type", DNSOptions{Output: "text"}, []string{"web"}, "must be TYPE/NAME"},
		{"a type dns does not explain", DNSOptions{Output: "text"}, []string{"deployment/web"}, "must be statefulset, pod or service"},
		{"a type without name", DNSOptions{Output: "text"}, []string{"statefulset/"}, "must be statefulset, pod or service"},
		{"a target with --all-namespaces", DNSOptions{Output: "text", AllNamespaces: true}, []string{"sts/web"}, "give no target"},
		{"three arguments", DNSOptions{Output: "text"}, []string{"sts", "web", "db"}, "too many arguments"},
		{"--resolve not an address", DNSOptions{Output: "text", Resolve: "a:b:c:"}, nil, "invalid --resolve"},
	}
	for _, tc := range errorCases {
		t.Run(tc.name, func(t *testing.T) {
			o := tc.opts
			err := o.Validate(tc.args)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want one saying %q", err, tc.want)
			}
		})
	}
}

// TestDNSUsageExit: a wrong command line exits 2 and points at `dns --help`.
func TestDNSUsageExit(t *testing.T) {
	var out, errOut bytes.Buffer
	code := Execute(Streams{Out: &out, Err: &errOut}, []string{"dns", "deployment/web"})
	if code != ExitUsage || !strings.Contains(errOut.String(), "Run 'headless-guard dns --help' for usage.") {
		t.Errorf("exit %d, stderr:\n%s", code, errOut.String())
	}
}
