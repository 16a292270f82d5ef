package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/term"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/headless-guard/headless-guard/internal/check"
	"github.com/headless-guard/headless-guard/internal/manifest"
	"github.com/headless-guard/headless-guard/internal/report"
	"github.com/headless-guard/headless-guard/rules"
	"github.com/headless-guard/headless-guard/webhook"
)

// CheckOptions are the flags of `headless-guard check`. A new flag is a
// field here, its line in AddFlags, its checks in Validate and, when the
// checker reads it, the field of check.Options that runCheck fills: the
// command only maps flags to check.Run and check.Fix (and the replay of a
// review to webhook.Replay), and writes the report.
type CheckOptions struct {
	Filenames     []string
	Output        string
	Namespace     string
	Fix           bool
	Write         bool
	Rules         []string
	Mode          string
	ClusterDomain string
	// Scope says which inputs are checked together (check.Scopes).
	Scope string
	// Exclude are gitignore-style patterns of paths not to read.
	Exclude []string
	// AllowEmpty lets an input with nothing to check pass.
	AllowEmpty bool
	// Policy is the level: default or strict.
	Policy string
	// ControllerOwned is report or enforce.
	ControllerOwned string
	// FailOn is the lowest finding severity that fails the run.
	FailOn string
	// SARIFBase is the directory SARIF and GitHub paths are relative to;
	// the git repository's top level when empty.
	SARIFBase string
	// Cluster completes the index with the live cluster's objects, or
	// audits the cluster when there is no input.
	Cluster    bool
	Kubeconfig string
	Context    string
	// AdmissionReview is a captured AdmissionReview to replay.
	AdmissionReview string
	// WebhookPath picks the webhook that answers the review.
	WebhookPath string

	scope check.Scope
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
	fs.StringVar(&o.Policy, "policy", string(rules.LevelDefault), "default: deny only mistakes that are certain (as admission does by default); strict: deny whenever pods would lack their per-pod names")
	fs.StringVar(&o.ControllerOwned, "controller-owned", string(rules.ControllerOwnedReport), "what objects with a `controller: true` ownerReference get: report (findings are warnings) or enforce (as anyone's)")
	fs.StringVar(&o.ClusterDomain, "cluster-domain", rules.DefaultClusterDomain, "cluster DNS domain, for the FQDN length check and the names HG010 and HG011 say a change removes")
	fs.StringVar(&o.Scope, "scope", string(check.ScopePath), "which manifests are checked together: path (each PATH argument; under it each kustomization or Helm chart apart), dir (each directory; a kustomization or chart with its subdirectories), file (each file), all (everything as one apply)")
	fs.StringArrayVar(&o.Exclude, "exclude", nil, "leave out paths under directories that match this gitignore-style pattern (e.g. 'charts/*/ci/', '*.values.yaml'); repeatable; "+manifest.IgnoreFile+" files work too")
	fs.BoolVar(&o.AllowEmpty, "allow-empty", false, "exit 0 even when an input holds nothing to check (by default that is an error, exit 2)")
	fs.StringVar(&o.FailOn, "fail-on", string(rules.ActionDeny), "the lowest finding severity that exits 1: deny or warn (notices never fail)")
	fs.StringVar(&o.SARIFBase, "sarif-base", "", "directory that SARIF and GitHub paths are relative to (default: the git repository's top level, else the working directory)")
	fs.BoolVar(&o.Cluster, "cluster", false, "read the live cluster (read-only): its Services and workloads in the namespaces the input touches complete the index (objects of the input win); with no input, check every object of the cluster")
	fs.StringVar(&o.Kubeconfig, "kubeconfig", "", "kubeconfig for --cluster (default: $KUBECONFIG, ~/.kube/config, in-cluster)")
	fs.StringVar(&o.Context, "context", "", "kubeconfig context for --cluster")
	fs.StringVar(&o.WebhookPath, "webhook-path", "", "with --admission-review, the webhook to answer it, e.g. /mutate/statefulsets (default: the validating webhook registered for the review's kind and operation)")
	fs.StringVar(&o.AdmissionReview, "admission-review", "", "print the webhook's response to a captured AdmissionReview (JSON or YAML); with --cluster, looked up against the live cluster, else against an empty one")
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
	if o.Policy != "" {
		if p.Level, err = rules.ParseLevel(o.Policy); err != nil {
			return p, fmt.Errorf("invalid --policy: %w", err)
		}
	}
	if o.ControllerOwned != "" {
		if p.ControllerOwned, err = rules.ParseControllerOwned(o.ControllerOwned); err != nil {
			return p, fmt.Errorf("invalid --controller-owned: %w", err)
		}
	}
	for _, r := range o.Rules {
		if err := p.SetOverride(reg, r); err != nil {
			return p, fmt.Errorf("invalid --rule: %w", err)
		}
	}
	if o.scope, err = check.ParseScope(o.Scope); err != nil {
		return p, fmt.Errorf("invalid --scope: %w", err)
	}
	switch rules.Action(o.FailOn) {
	case rules.ActionDeny, rules.ActionWarn:
	default:
		return p, fmt.Errorf("invalid --fail-on %q: must be deny or warn", o.FailOn)
	}
	for _, e := range o.Exclude {
		if strings.TrimSpace(e) == "" {
			return p, errors.New("invalid --exclude: must not be empty")
		}
	}
	if (o.Kubeconfig != "" || o.Context != "") && !o.Cluster {
		return p, errors.New("--kubeconfig and --context only work with --cluster (with --admission-review too: without --cluster the review is answered against an empty cluster)")
	}
	if o.AdmissionReview != "" {
		if len(o.Filenames) > 0 || o.Fix {
			return p, errors.New("--admission-review takes no PATH and no --fix: it replays one review")
		}
		return p, nil
	}
	if len(o.Filenames) == 0 {
		if o.Cluster {
			if o.Fix {
				return p, errors.New("--fix needs manifests to fix: give PATH arguments with --cluster")
			}
			return p, nil
		}
		return p, errors.New("no input: give files, directories, or - for standard input (or --cluster to check the live cluster)")
	}
	return p, nil
}

// NewCheckCommand returns `headless-guard check`.
func NewCheckCommand(s Streams) *cobra.Command {
	o := &CheckOptions{}
	cmd := &cobra.Command{
		Use:   "check [flags] PATH|- ...",
		Short: "Check manifests offline (for CI): exit 0 clean or warnings, 1 denied, 2 usage error or unreadable or empty input",
		Example: `  headless-guard check -f manifests/
  kustomize build overlays/prod | headless-guard check -
  helm template my-release ./chart | headless-guard check -o sarif - > headless-guard.sarif
  headless-guard check --fix manifests/web.yaml > fixed.yaml
  headless-guard check --fix --write manifests/
  headless-guard check -o github envs/dev envs/prod     # GitHub annotations, each env apart
  headless-guard check --cluster chart-output.yaml       # with the cluster's Services
  headless-guard check --cluster                         # audit the cluster
  headless-guard check --admission-review review.json`,
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
	if o.AdmissionReview != "" {
		return replayReview(s, o, policy, reg)
	}
	opts := check.Options{Paths: o.Filenames, Stdin: s.In, Namespace: o.Namespace, Registry: reg, Policy: policy, Scope: o.scope, Exclude: o.Exclude, Out: s.Out, Log: s.Err}
	if o.Cluster {
		if opts.Cluster, err = check.RESTConfig(o.Kubeconfig, o.Context); err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
	}
	if slices.Contains(o.Filenames, manifest.Stdin) && isTerminal(s.In) {
		_, _ = fmt.Fprintln(s.Err, "reading manifests from standard input (end with Ctrl-D; pipe them in, e.g. `helm template ... | headless-guard check -`)")
	}
	defer check.BoundHeap()()
	var res *check.Result
	if o.Fix {
		res, err = check.Fix(opts, o.Write)
	} else {
		res, err = check.Run(opts)
	}
	if err != nil {
		if len(o.Filenames) == 0 {
			// Reading the cluster failed: not the input's fault.
			return &ExitError{Code: ExitUsage, Err: err}
		}
		return inputError(err)
	}
	rep, out := res.Report, s.Out
	if o.Fix && !o.Write {
		// stdout carries the manifests; the findings go beside them.
		out = s.Err
	}
	format, _ := report.FormatOf(o.Output)
	if format.NeedsRoot {
		rep.Root = repositoryRoot(o.SARIFBase)
	}
	if err := report.Write(out, o.Output, rep); err != nil {
		return err
	}
	if len(res.Empty) > 0 && !o.AllowEmpty {
		return &ExitError{Code: ExitUsage, Err: emptyError(res.Empty)}
	}
	sum := rep.Summarize()
	if sum.Deny > 0 || o.FailOn == string(rules.ActionWarn) && sum.Warn > 0 {
		return &ExitError{Code: ExitFindings}
	}
	return nil
}

// replayReview prints the webhook's response to a captured review; the
// exit status is 1 when it denies. The replay is the webhook's own
// (webhook.Replay): the checker does not link it.
func replayReview(s Streams, o *CheckOptions, policy rules.Policy, reg *rules.Registry) error {
	data, err := os.ReadFile(o.AdmissionReview)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	review, err := webhook.ReadReview(data)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s: %w", o.AdmissionReview, err)}
	}
	ropts := webhook.ReplayOptions{Path: o.WebhookPath, Registry: reg, Policy: policy}
	if o.Cluster {
		if ropts.Cluster, err = check.RESTConfig(o.Kubeconfig, o.Context); err != nil {
			return &ExitError{Code: ExitUsage, Err: err}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), check.ClusterTimeout)
	defer cancel()
	out, path, err := webhook.Replay(ctx, review, ropts)
	if err != nil {
		return &ExitError{Code: ExitUsage, Err: fmt.Errorf("%s: %w", o.AdmissionReview, err)}
	}
	fmt.Fprintf(s.Err, "answered by the webhook at %s\n", path)
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(s.Out, "%s\n", b); err != nil {
		return err
	}
	if !out.Response.Allowed {
		return &ExitError{Code: ExitFindings}
	}
	return nil
}

// emptyError says which inputs held nothing to check.
func emptyError(empty []check.EmptyInput) error {
	parts := make([]string, len(empty))
	for i, e := range empty {
		parts[i] = fmt.Sprintf("%s %s", e.Path, e.Why)
	}
	return fmt.Errorf("nothing to check: %s; each input must hold at least one object, or pass --allow-empty", strings.Join(parts, "; "))
}

// repositoryRoot is the directory SARIF and GitHub paths are relative to:
// base, else the git repository's top level, else the working directory.
func repositoryRoot(base string) string {
	if base != "" {
		if abs, err := filepath.Abs(base); err == nil {
			return abs
		}
		return base
	}
	if out, err := exec.Command("git", "rev-parse", "--show-toplevel").Output(); err == nil {
		if root := strings.TrimSpace(string(out)); root != "" {
			// git prints the real path; the paths of the input may go
			// through a symbolic link (macOS /tmp, a checkout under one).
			if cwd, err := os.Getwd(); err == nil {
				if real, err := filepath.EvalSymlinks(cwd); err == nil && real != cwd {
					if rel, err := filepath.Rel(real, root); err == nil {
						return filepath.Join(cwd, rel)
					}
				}
			}
			return root
		}
	}
	cwd, _ := os.Getwd()
	return cwd
}

// isTerminal reports whether r is a terminal: `check -` then waits for a
// person to type, which must not look like a hang.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func inputError(err error) error {
	var pe *manifest.ParseError
	if errors.As(err, &pe) {
		return &ExitError{Code: ExitUsage, Err: err}
	}
	return err
}
