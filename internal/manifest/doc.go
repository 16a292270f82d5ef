// Package manifest loads Kubernetes manifests for the offline checker: files,
// directories, standard input; multi-document YAML, JSON and `kind: List`.
// Every document keeps its source text and its first line, so findings point
// at file and line and `--fix` rewrites only the documents it changes,
// keeping comments and key order (with Options.KeepNodes, from the YAML node
// trees it keeps). Documents in the block style most manifests are written
// in are decoded without building a node tree (fastyaml.go); yaml.v3 parses
// the others, and reports every error.
package manifest
