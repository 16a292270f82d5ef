// Package manifest loads Kubernetes manifests for the offline checker: files,
// directories, standard input; multi-document YAML, JSON and `kind: List`.
// Manifests are read as kubectl and helm read them: the stream is split as
// k8s.io/apimachinery's YAMLReader splits it, and each document's value is
// what sigs.k8s.io/yaml makes of it (YAML 1.1 scalars, the last of
// duplicate keys, which is reported as a Warning). Every document keeps its
// source text and its first line, so findings point at file and line and
// `--fix` rewrites only the documents it changes, keeping comments and key
// order (with Options.KeepNodes, from the yaml.v3 trees it keeps). Documents
// in the block style most manifests are written in are decoded without a
// parser (fastyaml.go); sigs.k8s.io/yaml reads the others, and reports
// every error.
//
// One file per job, in the order a manifest goes through them:
//
//   - types.go: File, Document, Object, Set, Source, Skip, Options.
//   - load.go: Load, which is Collect then Parse.
//   - collect.go: walking the PATH arguments into Sources (Collect); ignore.go
//     reads the exclude patterns and .headless-guard-ignore files.
//   - layout.go: what a kustomization or a Helm chart directory is (the one
//     list of their file names), and so each Source's Unit; which of their
//     files are skipped, and the skip reasons that say what to check instead.
//   - split.go: cutting a stream into documents at `---` as kubectl does.
//   - parse.go: Parse, on all cores: each document by the fast path
//     (fastyaml.go, with yaml11.go for YAML 1.1 scalars) or as kubectl reads
//     it; decode.go turns a document's JSON into Objects.
//   - errors.go: ParseError, and placing YAML errors and duplicate keys on
//     their lines.
//   - locate.go: the line of a field of an object (where a finding points).
//   - edit.go: what --fix does to a file (ApplyPatches, AppendObject, WriteTo).
//
// It stays one package: every job reads or fills the same Document and
// Object, and subpackages would have to export their fields to each other.
//
// Adding a file name that makes a directory a unit (a new kustomize file
// name) is an edit of layout.go alone. A fixture test of the loader goes in
// load_test.go with its input under testdata/; kubectl_test.go holds the
// cases that must read as kubectl reads them.
package manifest
