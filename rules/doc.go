// Package rules holds the headless-guard rule catalogue (HG001–HG012) and the
// fixes that repair what the rules find.
//
// Rules are pure functions over typed k8s.io/api objects: they read the object
// under review from a Request, reach other objects only through the Lookup
// interface, and return field.ErrorList-style findings with field paths. The
// admission webhook and the offline checker run the same Registry through the
// same Evaluate function, so a verdict never depends on the front end.
//
// This package imports k8s.io/api, k8s.io/apimachinery and the standard
// library only.
package rules
