// Command headless-guard checks StatefulSet ↔ headless Service wiring: as an
// offline checker for CI (`headless-guard check`) and, later, as an admission
// webhook.
package main

import (
	"os"

	"github.com/headless-guard/headless-guard/internal/cli"
)

func main() {
	os.Exit(cli.Execute(cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Args[1:]))
}
