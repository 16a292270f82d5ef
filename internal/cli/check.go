package cli

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/headless-guard/headless-guard/internal/check"
	"github.com/headless-guard/headless-guard/internal/manifest"
	"github.com/headless-guard/headless-guard/internal/report"
	"github.com/headless-guard/headless-guard/rules"
)

// CheckOptions are the flags of `headless-guard check`.
type CheckOptions struct {
	Filenames     []string
	Output        string
	Namespace     string
	Fix           bool
	Write         bool
	Rules         []string
	Mode          string
	ClusterDomain string
}

// AddFlags registers the options on fs.
func (o *CheckOptions) AddFlags(fs *pflag.FlagSet) {
	fs.StringSliceVarP(&o.Filenames, "filename", "f", nil, "file, directory (recursive: .yaml, .yml, .json) or - for standard input; repeatable, and positional arguments work too")
	fs.StringVarP(&o.Output, "output", "o", "text", "output format: "+strings.Join(report.Formats, ", "))
	fs.StringVarP(&o.Namespace, "namespace", "n", "default", "namespace for objects that have none")
	fs.BoolVar(&o.Fix, "fix", false, "print the manifests with every fix applied (missing headless Services appended, labels and port names fixed); the findings go to stderr")
	fs.BoolVar(&o.Write, "write", false, "with --fix, rewrite the files in place instead of printing them")
	fs.StringArrayVar(&o.Rules, "rule", nil, "override a rule's action, e.g. --rule HG004=warn --rule HG009=deny (deny|warn|off); repeatable")
	fs.StringVar(&o.Mode, "mode", string(rules.ModeEnforce), "enforce, or warn to turn every deny into a warning")
	fs.StringVar(&o.ClusterDomain, "cluster-domain", rules.DefaultClusterDomain, "cluster DNS domain, for the FQDN length check")
}

// Validate checks the options and builds the policy.
func (o *CheckOptions) Validate(reg *rules.Registry) (rules.Policy, error) {
	var p rules.Policy
	if !slices.Contains(report.Formats, o.Output) {
		return p, fmt.Errorf("invalid --output %q: must be one of %s", o.Output, strings.Join(report.Formats, ", "))
	}
	if o.Write && !o.Fix {
		return p, errors.New("--write only works with --fix")
	}
	mode, err := rules.ParseMode(o.Mode)
	if err != nil {
		return p, fmt.Errorf("invalid --mode: %w", err)
	}
	p.Mode, p.ClusterDomain = mode, o.ClusterDomain
	for _, r := range o.Rules {
		if err := p.SetOverride(reg, r); err != nil {
			return p, fmt.Errorf("invalid --rule: %w", err)
		}
	}
	if len(o.Filenames) == 0 {
		return p, errors.New("no input: give files, directories, or - for standard input")
	}
	return p, nil
}

// NewCheckCommand returns `headless-guard check`.
func NewCheckCommand(s Streams) *cobra.Command {
	o := &CheckOptions{}
	cmd := &cobra.Command{
		Use:   "check [flags] PATH|- ...",
		Short: "Check manifests offline (for CI): exit 0 clean or warnings, 1 denied, 2 usage or parse error",
		Example: `  headless-guard check -f manifests/
  kustomize build overlays/prod | headless-guard check -
  helm template my-release ./chart | headless-guard check -o sarif - > headless-guard.sarif
  headless-guard check --fix manifests/web.yaml > fixed.yaml
  headless-guard check --fix --write manifests/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Filenames = append(o.Filenames, args...)
			return runCheck(s, o)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runCheck(s Streams, o *CheckOptions) error {
	reg := rules.Default()
	policy, err := o.Validate(reg)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err, Usage: true}
	}
	opts := check.Options{Paths: o.Filenames, Stdin: s.In, Namespace: o.Namespace, Registry: reg, Policy: policy, Fixing: o.Fix}
	res, err := check.Run(opts)
	if err != nil {
		return inputError(err)
	}
	rep, out := res.Report, s.Out
	if o.Fix {
		if rep, err = fix(s, res.Set, opts, o.Write); err != nil {
			return err
		}
		if !o.Write {
			// stdout carries the manifests; the findings go beside them.
			out = s.Err
		}
	}
	if err := report.Write(out, o.Output, rep); err != nil {
		return err
	}
	if rep.Summarize().Deny > 0 {
		return &ExitError{Code: ExitFindings}
	}
	return nil
}

// fix applies the fixes, prints or writes the manifests, and checks the
// result again: the exit code reflects what is left after fixing.
func fix(s Streams, set *manifest.Set, opts check.Options, write bool) (*report.Report, error) {
	done, err := check.Fix(set, opts.Namespace)
	if err != nil {
		return nil, err
	}
	for _, d := range done {
		fmt.Fprintf(s.Err, "fixed: %s:%d: %s: %s (%s %s)\n", d.File, d.Line, d.Object, d.Description, d.Fix, d.Rule)
	}
	sources, err := check.Rendered(set)
	if err != nil {
		return nil, err
	}
	if write {
		written, err := check.WriteInPlace(set, sources, s.Out)
		if err != nil {
			return nil, err
		}
		for _, p := range written {
			fmt.Fprintf(s.Err, "wrote %s\n", p)
		}
	} else if err := check.Concat(s.Out, sources); err != nil {
		return nil, err
	}
	fixed, err := manifest.Parse(sources, manifest.Options{Namespace: opts.Namespace})
	if err != nil {
		return nil, fmt.Errorf("the fixed manifests do not parse (please report this): %w", err)
	}
	return check.Evaluate(fixed, opts)
}

func inputError(err error) error {
	var pe *manifest.ParseError
	if errors.As(err, &pe) {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	return err
}
