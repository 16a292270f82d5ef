#!/bin/sh
# The -ldflags of every headless-guard build: `make build`, `make release`
# and the Dockerfile's build stage. Usage: hack/ldflags.sh VERSION [COMMIT]
set -eu
m=github.com/headless-guard/headless-guard
printf '%s' "-s -w -X $m/internal/version.Version=$1 -X $m/internal/version.Commit=${2:-} -X $m/internal/report.ToolVersion=$1"
