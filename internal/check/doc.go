// Package check is the offline checker behind `headless-guard check`, as two
// whole calls: Run loads manifests, groups them into scopes, indexes each
// scope and runs the rule registry over every object as a CREATE; Fix does
// the same, applies the fixes, writes the manifests and checks them again.
// The CLI (internal/cli/check.go) only maps flags to Options and writes the
// report. The checker links no controller-runtime: --cluster reads through
// client-go's REST client, and the replay of a captured AdmissionReview
// (`check --admission-review`) is the webhook's (webhook/replay.go).
//
// What lives where:
//
//   - run.go: Options, Result, Run and Fix, the whole flow of one run.
//   - scope.go: --scope, and grouping the loaded files into units (which
//     files are one kustomization or Helm chart is internal/manifest's
//     layout.go); the inputs that held nothing.
//   - evaluate.go: the index of one unit (rules.CompactIndex over the
//     objects the loader keeps encoded) and the registry over its objects.
//   - memory.go: BoundHeap, the heap's headroom while the `check` command
//     runs.
//   - notices.go: what the rules do not see (objects defined twice,
//     workloads of unread kinds, duplicate keys), reported as notices.
//   - fix.go: the fixes of one unit, rendering and writing the files, and
//     the re-check of what --fix wrote.
//   - cluster.go: --cluster: the kubeconfig, listing the live cluster, and
//     checking all of it when there is no input.
//
// Where to add things:
//
//   - a flag of `check`: a field of cli.CheckOptions with AddFlags and
//     Validate (internal/cli/check.go); if the checker needs it, a field
//     of Options here, which the CLI fills.
//   - an output format: a row of the format table in internal/report
//     (format.go) and its renderer there; the flag follows.
//   - a fixture test: a rule's pass-*.yaml and fail-*.yaml (with `# expect:`
//     lines) under rules/testdata/<ID>/, which fixtures_test.go runs through
//     this checker (fixed.yaml is the golden output of --fix, regenerated with
//     UPDATE_GOLDEN=1); whole charts under testdata/charts and
//     testdata/publiccharts; a test of the binary's behaviour (exit codes,
//     streams) in test/.
package check
