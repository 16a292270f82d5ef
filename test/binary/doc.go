// Package binary tests the headless-guard binary alone, as users and CI
// pipelines run it: `check` on files, directories and stdin, its flags,
// exit codes and output formats, --fix, and every command of README.md's CI
// section and docs/ci.md, run as written on the fixtures in testdata/. No
// control plane: a test of a flag or an output of `check` goes here; one
// that needs a cluster goes to test/admission.
package binary
