// Package rules holds the headless-guard rule catalogue (HG001–HG012) and the
// fixes that repair what the rules find.
//
// Rules are pure functions over typed k8s.io/api objects: they read the object
// under review from a Request, reach other objects only through the Lookup
// interface, and return field.ErrorList-style findings with field paths. The
// admission webhook and the offline checker run the same Registry through the
// same Evaluate function, so a verdict never depends on the front end.
//
// To add a rule: a file hgNNN_<name>.go with its test beside it and an
// entry in registry.go's table. What a finding means to a front end is a
// field the rule sets on its Problem (Uncertain, WarnOnly,
// InjectReplaces), never a branch on its ID in the front end.
//
// To add a kind: an entry in Kinds (kinds.go) and its case in KindInfoOf;
// PodTemplateOwnerKinds if it has a pod template (a test holds it to
// Kinds); then the per-kind code outside rules: the webhook's stripped
// decoder (webhook/decode_stripped.go, TestEveryKindHasAStrippedDecoder
// fails until it exists) and its route (webhook.Webhooks), a case in the
// cache transform if the kind needs one (internal/lookup/transform.go),
// and the webhook configurations in deploy/.
//
// This package imports k8s.io/api, k8s.io/apimachinery and the standard
// library only.
package rules
