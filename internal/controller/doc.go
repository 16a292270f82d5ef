// Package controller holds headless-guard's reconcilers: the one that adopts
// or removes the headless Services the inject-service fix created, and the
// audit of what already runs in the cluster. Both run on the leader only.
package controller
