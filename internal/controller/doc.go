// Package controller holds headless-guard's reconcilers: the Injector,
// which creates the missing headless Service of an inject-enabled
// StatefulSet once the API server stored it (owned by it, so that the
// garbage collector deletes it), and the audit of what already runs in the
// cluster. Both run on the leader only.
package controller
