package framework

import (
	"bytes"
	"errors"
	"os/exec"
	"testing"
)

// Result is what a run of the binary printed and its exit code.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Run runs the headless-guard binary (Binary) with stdin and args.
func Run(t *testing.T, stdin []byte, args ...string) Result {
	t.Helper()
	cmd := exec.Command(Binary, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	return runCmd(t, cmd)
}

// runCmd runs cmd and returns what it wrote and its exit code; a command
// that cannot be started fails the test.
func runCmd(t *testing.T, cmd *exec.Cmd) Result {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return Result{out.String(), errOut.String(), code}
}

// JSONReport is the report of `check -o json`.
type JSONReport struct {
	Findings []struct {
		Rule     string `json:"rule"`
		Name     string `json:"name"`
		Severity string `json:"severity"`
		Object   struct {
			APIVersion, Kind, Namespace, Name string
		} `json:"object"`
		Field       string `json:"field"`
		Message     string `json:"message"`
		Remediation string `json:"remediation"`
		File        string `json:"file"`
		Line        int    `json:"line"`
	} `json:"findings"`
	Summary map[string]int `json:"summary"`
}
