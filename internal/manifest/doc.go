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
package manifest
