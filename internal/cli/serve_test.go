package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/headless-guard/headless-guard/internal/serve"
	"github.com/headless-guard/headless-guard/rules"
)

// TestServePolicyFlags: --policy and --controller-owned reach the policy
// the webhook and the audit run with, and a wrong value names its flag.
func TestServePolicyFlags(t *testing.T) {
	parse := func(t *testing.T, args ...string) (rules.Policy, error) {
		t.Helper()
		o := &serve.Options{}
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		addServeFlags(fs, o)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return o.Policy(rules.Default())
	}
	successCases := []struct {
		args            []string
		level           rules.Level
		controllerOwned rules.ControllerOwned
	}{
		{nil, rules.LevelDefault, rules.ControllerOwnedReport},
		{[]string{"--policy=strict", "--controller-owned=enforce"}, rules.LevelStrict, rules.ControllerOwnedEnforce},
		{[]string{"--policy", "Strict", "--audit-grace-period=0"}, rules.LevelStrict, rules.ControllerOwnedReport},
	}
	for _, tc := range successCases {
		p, err := parse(t, tc.args...)
		if err != nil || p.Level != tc.level || p.ControllerOwned != tc.controllerOwned {
			t.Errorf("%v: level %q, controller-owned %q, error %v; want %q, %q", tc.args, p.Level, p.ControllerOwned, err, tc.level, tc.controllerOwned)
		}
	}
	errorCases := map[string][]string{
		"--policy":             {"--policy=lenient"},
		"--controller-owned":   {"--controller-owned=deny"},
		"--audit-grace-period": {"--audit-grace-period=-1s"},
	}
	for flag, args := range errorCases {
		if _, err := parse(t, args...); err == nil || !strings.Contains(err.Error(), "invalid "+flag) {
			t.Errorf("%v: error %v, want one naming %s", args, err, flag)
		}
	}
}

// TestServeCommandRunsWithTheMappedOptions: `serve` hands the options its
// flags map to to the run function it was built with, and a wrong value is
// a usage error (exit 2, a pointer to --help) that never reaches it.
func TestServeCommandRunsWithTheMappedOptions(t *testing.T) {
	var got *serve.Options
	run := func(_ context.Context, o serve.Options) error { got = &o; return nil }
	cmd := NewServeCommand(Streams{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}, run)
	cmd.SetArgs([]string{"--inject", "--rule", "HG004=warn", "--webhook-port=10443", "--cert-mode=self-managed", "--cert-namespace=guard", "--client-ca-file=/ca.pem", "--client-allowed-names=kube-apiserver"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got == nil {
		t.Fatal("run was not called")
	}
	if !got.Inject || got.WebhookPort != 10443 || len(got.Rules) != 1 || got.Rules[0] != "HG004=warn" ||
		got.Certs.Mode != serve.CertModeSelfManaged || got.Certs.Namespace != "guard" || got.ClientNames[0] != "kube-apiserver" ||
		got.HealthProbeBindAddr != ":8081" || got.AuditGracePeriod.String() != "2m0s" {
		t.Errorf("options %+v", *got)
	}

	for _, args := range [][]string{
		{"--tls-min-version=1.1"},
		{"--client-allowed-names=x"},
		{"--cert-mode=self-managed", "--cert-namespace="},
		{"--rule", "HG999=deny"},
	} {
		called := false
		cmd := NewServeCommand(Streams{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}}, func(context.Context, serve.Options) error { called = true; return nil })
		cmd.SetArgs(args)
		err := cmd.Execute()
		var exit *ExitError
		if !errors.As(err, &exit) || exit.Code != ExitUsage || !exit.Usage || called {
			t.Errorf("%v: error %v, run called %v; want a usage error before run", args, err, called)
		}
	}
}
