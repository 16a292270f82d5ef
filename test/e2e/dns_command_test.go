package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/headless-guard/headless-guard/internal/dnsexplain"
	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/test/cluster"
)

// dnsCommand runs `headless-guard dns ARGS --resolve <CoreDNS>` against
// the cluster and returns stdout, stderr and the exit status.
func dnsCommand(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	root, err := cluster.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := cluster.GuardBinary(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"dns", "--kubeconfig", cl.KubeconfigPath(), "--resolve", cl.DNSAddr()}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return out.String(), errOut.String(), exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), 0
}

// explainAgreed runs `dns -n ns -o json --resolve` until no answer of
// CoreDNS differs from what the objects say (the EndpointSlices and
// CoreDNS's watch follow the pods within about a second; a difference that
// lasts dnsTimeout is a wrong explanation), and returns the report and
// the exit status.
func explainAgreed(t *testing.T, ns string) (*dnsexplain.Report, int) {
	t.Helper()
	var rep *dnsexplain.Report
	var code int
	eventually(t, ns, dnsTimeout, "`headless-guard dns` agreeing with CoreDNS on every name", func() (bool, string) {
		out, errOut, c := dnsCommand(t, "-n", ns, "-o", "json")
		if c != 0 && c != 1 {
			t.Fatalf("headless-guard dns -n %s: exit %d\n%s", ns, c, errOut)
		}
		rep, code = &dnsexplain.Report{}, c
		if err := json.Unmarshal([]byte(out), rep); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		var differ []string
		for _, g := range rep.Groups {
			for _, r := range g.Records {
				if !r.Resolved {
					t.Fatalf("%s %s was not asked of CoreDNS", r.Type, r.Name)
				}
				if r.Differs {
					differ = append(differ, fmt.Sprintf("%s %s: objects %v, CoreDNS %v", r.Type, r.Name, r.Objects, r.Answered))
				}
			}
		}
		return len(differ) == 0, strings.Join(differ, "; ") + "\n" + out
	})
	return rep, code
}

// TestDNSCommand: for the seeds' StatefulSets, `headless-guard dns
// --resolve` expects exactly what CoreDNS answers, for every name (each
// pod's name, the Service's A record, the SRV record of each named port),
// and exits 0. TestRulesDNS runs it on every rule's broken cases
// (checkDNSCommand).
func TestDNSCommand(t *testing.T) {
	setup(t)
	for _, s := range []struct {
		file   string
		labels map[string]string
		pods   int
	}{
		{"seed-000-nginx-web.yaml", map[string]string{"app": "nginx"}, 3},
		{"seed-002-my-stateful-app.yaml", map[string]string{"app": "my-app"}, 3},
		{"seed-002-mysql.yaml", map[string]string{"app": "mysql"}, 3},
		{"seed-002-my-app-statefulset.yaml", map[string]string{"app": "my-app"}, 2},
		{"testdata/seed-003-redis.yaml", map[string]string{"app": "redis"}, 2},
	} {
		name := strings.TrimSuffix(strings.TrimPrefix(s.file, "testdata/"), ".yaml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ns := "dns-" + strings.TrimPrefix(name, "seed-")
			createNamespace(t, ns, nil)
			apply(t, ns, seed(t, s.file, ns))
			pods := waitPods(t, ns, s.labels, s.pods)
			rep, code := explainAgreed(t, ns)
			if code != 0 {
				t.Errorf("exit %d, want 0: every name of the seed resolves", code)
			}
			// Every pod has its name, answered by CoreDNS with its IP.
			answered := map[string][]string{}
			for _, g := range rep.Groups {
				for _, r := range g.Records {
					answered[r.Type+" "+r.Name] = r.Answered
					if r.Missing || len(r.Reasons) > 0 {
						t.Errorf("%s %s: missing %v, reasons %+v", r.Type, r.Name, r.Missing, r.Reasons)
					}
				}
			}
			var sets appsv1.StatefulSetList
			if err := cl.Client().List(t.Context(), &sets, client.InNamespace(ns)); err != nil {
				t.Fatal(err)
			}
			for _, sts := range sets.Items {
				for _, p := range pods {
					want := "A " + strings.TrimSuffix(fqdn(p.Name, sts.Spec.ServiceName, ns), ".")
					if got := answered[want]; !slices.Equal(got, []string{p.Status.PodIP}) {
						t.Errorf("%s: CoreDNS answered %v, want %s", want, got, p.Status.PodIP)
					}
				}
			}
			// The text people read: the DNS column, and the summary.
			out, _, code := dnsCommand(t, "-n", ns)
			if code != 0 || !strings.Contains(out, "DNS ANSWERED") || !strings.Contains(out, "0 missing an expected answer, 0 answered by "+cl.DNSAddr()+" otherwise than the objects say") {
				t.Errorf("text: exit %d\n%s", code, out)
			}
		})
	}
}

// TestDNSCommandClusterIPPeers: a StatefulSet whose configuration lists
// its peers by their per-pod names, governed by a ClusterIP Service (what
// issue 20's default admits with a warning in a namespace in warn mode).
// The explanation says which records are missing and why (HG003: the
// Service's one address per pod, the SRV targets), that the configuration
// looks the names up, and that they resolve, as CoreDNS answers them: it
// serves an endpoint's hostname under any Service.
func TestDNSCommandClusterIPPeers(t *testing.T) {
	setup(t)
	ns := "dns-clusterip-peers"
	createNamespace(t, ns, map[string]string{rules.ModeLabel: string(rules.ModeWarn)})
	sts := strings.Replace(statefulSetManifest("web", "nginx-headless"), "          name: web\n",
		"          name: web\n        env:\n        - name: PEERS\n          value: web-0.nginx-headless:80,web-1.nginx-headless:80\n", 1)
	apply(t, ns, []byte(docs(serviceManifest("nginx-headless", clusterIPSpec), sts)))
	pods := waitPods(t, ns, map[string]string{"app": "nginx"}, 2)
	rep, code := explainAgreed(t, ns)
	out, _, _ := dnsCommand(t, "-n", ns)
	if code != 1 || len(rep.Groups) != 1 {
		t.Fatalf("exit %d, %d groups; want 1 (the Service's records are missing), one group\n%s", code, len(rep.Groups), out)
	}
	g := rep.Groups[0]
	for _, r := range g.Records {
		switch {
		case r.Pod != "" && (r.Missing || !slices.Equal(r.Answered, []string{ipOf(t, pods, r.Pod)})):
			t.Errorf("%s: CoreDNS answered %v, want the pod's IP", r.Name, r.Answered)
		case r.Pod == "" && (!r.Missing || !slices.ContainsFunc(r.Reasons, func(why dnsexplain.Reason) bool { return why.Rule == rules.HG003 })):
			t.Errorf("%s %s: missing %v, reasons %+v; want missing because of HG003", r.Type, r.Name, r.Missing, r.Reasons)
		}
	}
	if len(g.Uses) != 2 || !strings.Contains(out, "looks up its per-pod names: `web-0.nginx-headless` (env `PEERS` of container `nginx`) resolves; `web-1.nginx-headless` (env `PEERS` of container `nginx`) resolves") {
		t.Errorf("uses %+v\n%s", g.Uses, out)
	}
}

// dnsCommandExpects are the breakages whose explanation names another
// rule than the one broken, or that lose a record no name is defined for
// (so that none is missing, exit 0): what the cluster's objects show after
// a change is the state another rule describes.
var dnsCommandExpects = map[string]struct {
	rule    string
	missing bool
}{
	// No `spec.serviceName`: no per-pod name is defined, so none is
	// missing; the note names HG001.
	"HG001: `spec.serviceName` empty, a headless Service selects the pods": {rules.HG001, false},
	// An unnamed port has no SRV name to miss; the note names HG005.
	"HG005: unnamed Service port": {rules.HG005, false},
	// The pods keep every record (exit 0); the configuration looks up
	// names through another Service, which the explanation says (HG013).
	"HG013: per-pod name through another Service in an env value": {rules.HG013, false},
	// After the deletion, the Service is missing (HG002).
	"HG010: governing Service deleted": {rules.HG002, true},
	// After the update, the selector misses the pods (HG004), or the port
	// has no name (HG005).
	"HG011: selector changed away from the pods (breaks HG004)": {rules.HG004, true},
	"HG011: port name removed (breaks HG005)":                   {rules.HG005, false},
}

// checkDNSCommand runs `headless-guard dns --resolve` on a namespace where
// TestRulesDNS broke a rule and CoreDNS answers what the registry claims:
// the explanation agrees with CoreDNS on every name, names the rule
// broken (dnsCommandExpects says where that is another), and exits 1
// exactly when the pods lose a record (dnsCommandExpects: one that has a
// name).
func checkDNSCommand(t *testing.T, ns string, r *rules.Rule, c rules.DNSCase) {
	t.Helper()
	want, ok := dnsCommandExpects[r.ID+": "+c.Case]
	if !ok {
		want.rule = r.ID
		want.missing = c.Loss&(rules.LosesPods|rules.LosesPodAddresses|rules.LosesHostnames|rules.LosesSRV) != 0
	}
	rep, code := explainAgreed(t, ns)
	var named []string
	for _, g := range rep.Groups {
		reasons := slices.Clone(g.Notes)
		for _, rec := range g.Records {
			reasons = append(reasons, rec.Reasons...)
		}
		for _, why := range reasons {
			if why.Rule != "" && !slices.Contains(named, why.Rule) {
				named = append(named, why.Rule)
			}
		}
	}
	out, _, _ := dnsCommand(t, "-n", ns)
	if want.rule != "" && !slices.Contains(named, want.rule) || want.rule == "" && len(named) > 0 {
		t.Errorf("`headless-guard dns` names %v, want %q:\n%s", named, want.rule, out)
	}
	if (code == 1) != want.missing {
		t.Errorf("`headless-guard dns` exit %d, want a missing name: %v\n%s", code, want.missing, out)
	}
	t.Logf("headless-guard dns -n %s --resolve %s:\n%s", ns, cl.DNSAddr(), out)
}
