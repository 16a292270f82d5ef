// Package admission tests what users see when kubectl applies objects
// through the webhook, on one control plane with headless-guard that the
// package's tests share (guard; guardMu while a test needs particular
// flags): every rule fixture and chart fixture replayed through kubectl
// agrees with the offline checker, exact denial messages, dry-run, opt-out
// annotations and namespace labels, apply order, and the commands that read
// a live cluster (`check --cluster`, `check --admission-review`, `dns`).
// A new rule's or flag's behaviour at admission goes here.
package admission
