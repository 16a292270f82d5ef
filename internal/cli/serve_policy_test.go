package cli

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/headless-guard/headless-guard/rules"
)

// TestServePolicyFlags: --policy and --controller-owned reach the policy
// the webhook and the audit run with, and a wrong value names its flag.
func TestServePolicyFlags(t *testing.T) {
	parse := func(t *testing.T, args ...string) (rules.Policy, error) {
		t.Helper()
		o := &ServeOptions{}
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		o.AddFlags(fs)
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
