// Command headless-guard makes sure every StatefulSet (and every pod template
// that asks for a DNS subdomain) is wired to a correct headless Service: as
// the validating and mutating admission webhook and the audit of a cluster
// (`headless-guard serve`), and as the offline checker of CI pipelines
// (`headless-guard check`).
package main

import (
	"os"

	"github.com/headless-guard/headless-guard/internal/cli"
)

func main() {
	os.Exit(cli.Execute(cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}, os.Args[1:]))
}
