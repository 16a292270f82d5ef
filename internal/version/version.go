// Package version holds the build's version, stamped by the Makefile with
// -ldflags "-X github.com/headless-guard/headless-guard/internal/version.Version=…".
package version

import "runtime/debug"

// Version is the release version; "dev" for builds that were not stamped.
var Version = "dev"

// Commit is the git commit of the build, when stamped.
var Commit = ""

// String returns "version (commit)" or just the version.
func String() string {
	v := Version
	if v == "dev" {
		if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
			v = info.Main.Version
		}
	}
	if Commit != "" {
		return v + " (" + Commit + ")"
	}
	return v
}
