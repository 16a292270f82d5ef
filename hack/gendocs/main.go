// Command gendocs writes docs/rules.md from the rule registry (`make docs`):
// rules.go renders it, and rules_test.go fails when the committed file is
// stale. A rule's text (description, remediation, what DNS answers) lives in
// its entry of the registry (rules/registry.go), not here.
package main

import (
	"fmt"
	"os"

	"github.com/headless-guard/headless-guard/rules"
)

func main() {
	out := "docs/rules.md"
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	if err := os.WriteFile(out, rulesMarkdown(rules.Default()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
