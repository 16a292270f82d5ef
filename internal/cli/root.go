// Package cli builds the headless-guard command tree. Commands are built by
// functions that take their streams, so tests run them in process. The
// CLI maps flags to options and exit codes, and nothing more: `serve`'s
// flags are mapped in serve.go onto internal/serve.Options, and the
// command calls the run func it is given (serve.Run), which does the
// wiring.
package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/headless-guard/headless-guard/internal/serve"
	"github.com/headless-guard/headless-guard/internal/version"
)

// Exit codes of the headless-guard binary.
const (
	// ExitOK: clean, or warnings only.
	ExitOK = 0
	// ExitFindings: at least one deny-level finding.
	ExitFindings = 1
	// ExitUsage: bad flags or arguments, or unreadable input.
	ExitUsage = 2
)

// ExitError carries a process exit code; a nil Err means nothing more to print.
type ExitError struct {
	Code int
	Err  error
	// Usage adds a pointer to --help: the command line was wrong, not the input.
	Usage bool
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Streams are the command's standard streams.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// NewRootCommand returns the headless-guard command with its subcommands.
func NewRootCommand(s Streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "headless-guard",
		Short: "Make sure every StatefulSet is wired to a correct headless Service",
		Long: "headless-guard checks that every StatefulSet (and every pod template that asks for a DNS subdomain)\n" +
			"names an existing headless Service that selects its pods, so that each pod gets its DNS name.\n" +
			"The same rules run as an admission webhook and as an offline checker for CI.",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version.String(),
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	// Flag errors are usage errors: exit 2, like bad arguments.
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &ExitError{Code: ExitUsage, Err: err, Usage: true}
	})
	root.AddCommand(NewCheckCommand(s), NewDNSCommand(s), NewServeCommand(s, serve.Run), newVersionCommand(s))
	return root
}

// Execute runs the root command with args and returns the process exit code,
// having printed any error.
func Execute(s Streams, args []string) int {
	root := NewRootCommand(s)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return ExitOK
	}
	// The help to point at is the command's that failed: `check --help`
	// lists check's flags, the root's only the commands.
	help := root.CommandPath()
	if cmd != nil {
		help = cmd.CommandPath()
	}
	var exit *ExitError
	if errors.As(err, &exit) {
		if exit.Err != nil {
			fmt.Fprintf(s.Err, "error: %v\n", exit.Err)
			if exit.Usage {
				fmt.Fprintf(s.Err, "Run '%s --help' for usage.\n", help)
			}
		}
		return exit.Code
	}
	// Cobra's own argument and unknown-command errors are usage errors.
	fmt.Fprintf(s.Err, "error: %v\nRun '%s --help' for usage.\n", err, help)
	return ExitUsage
}

func newVersionCommand(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(s.Out, "headless-guard %s\n", version.String())
			return err
		},
	}
}
