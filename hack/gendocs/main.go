// Command gendocs writes docs/rules.md from the rule registry (`make docs`).
package main

import (
	"fmt"
	"os"

	"github.com/headless-guard/headless-guard/internal/docs"
	"github.com/headless-guard/headless-guard/rules"
)

func main() {
	out := "docs/rules.md"
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	if err := os.WriteFile(out, docs.RulesMarkdown(rules.Default()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
