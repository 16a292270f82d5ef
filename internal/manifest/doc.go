// Package manifest loads Kubernetes manifests for the offline checker: files,
// directories, standard input; multi-document YAML, JSON and `kind: List`.
// Every document keeps its source text, its first line and its YAML node
// tree, so findings point at file and line and `--fix` rewrites only the
// documents it changes, keeping comments and key order.
package manifest
