package rules

import (
	"fmt"
	"strings"
)

// Mode is the global enforcement mode.
type Mode string

const (
	// ModeEnforce applies each rule's action as configured.
	ModeEnforce Mode = "enforce"
	// ModeWarn turns every deny into a warning.
	ModeWarn Mode = "warn"
)

// ParseMode parses "enforce" or "warn".
func ParseMode(s string) (Mode, error) {
	switch m := Mode(strings.ToLower(strings.TrimSpace(s))); m {
	case ModeEnforce, ModeWarn:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q: must be enforce or warn", s)
}

// Level is the policy users choose between: what admission may deny.
type Level string

const (
	// LevelDefault denies only a mistake that is certain from what
	// admission can see and that the requester can fix (a typo next to the
	// right Service, a headless Service whose selector misses the pods,
	// names too long for pods to exist, per-pod names the pod template's
	// own configuration uses); it warns about the rest, and the audit
	// follows it up after a grace period.
	LevelDefault Level = "default"
	// LevelStrict denies whenever pods would lack their per-pod names, as
	// the rule catalogue's defaults say.
	LevelStrict Level = "strict"
)

// ParseLevel parses "default" or "strict".
func ParseLevel(s string) (Level, error) {
	switch l := Level(strings.ToLower(strings.TrimSpace(s))); l {
	case LevelDefault, LevelStrict:
		return l, nil
	}
	return "", fmt.Errorf("unknown policy %q: must be default or strict", s)
}

// ControllerOwned says what happens to the findings of an object with a
// `controller: true` ownerReference, written by a controller that cannot
// read a denial and retries forever.
type ControllerOwned string

const (
	// ControllerOwnedReport makes every finding of a controller-owned
	// object a warning, counted and followed up by the audit.
	ControllerOwnedReport ControllerOwned = "report"
	// ControllerOwnedEnforce treats controller-owned objects as people's.
	ControllerOwnedEnforce ControllerOwned = "enforce"
)

// ParseControllerOwned parses "report" or "enforce".
func ParseControllerOwned(s string) (ControllerOwned, error) {
	switch c := ControllerOwned(strings.ToLower(strings.TrimSpace(s))); c {
	case ControllerOwnedReport, ControllerOwnedEnforce:
		return c, nil
	}
	return "", fmt.Errorf("unknown controller-owned action %q: must be report or enforce", s)
}

// Namespace labels that override the global policy for one namespace
// (ModeLabel is the third).
const (
	PolicyLabel          = "headless-guard.io/policy"
	ControllerOwnedLabel = "headless-guard.io/controller-owned"
)

// ForNamespace returns the policy for a namespace with these labels: each
// of ModeLabel, PolicyLabel and ControllerOwnedLabel that holds a valid
// value replaces the global setting; an invalid value is ignored.
func (p Policy) ForNamespace(labels map[string]string) Policy {
	if m, err := ParseMode(labels[ModeLabel]); err == nil {
		p.Mode = m
	}
	if l, err := ParseLevel(labels[PolicyLabel]); err == nil {
		p.Level = l
	}
	if c, err := ParseControllerOwned(labels[ControllerOwnedLabel]); err == nil {
		p.ControllerOwned = c
	}
	return p
}

// DefaultClusterDomain is the DNS domain the FQDN length check assumes.
const DefaultClusterDomain = "cluster.local"

// Policy decides the effective action of each finding. The zero value is
// usable: the default level, controller-owned objects reported, enforce
// mode, cluster.local.
type Policy struct {
	// Overrides maps a rule ID to the action that replaces its default.
	Overrides map[string]Action
	// Mode is enforce (default) or warn.
	Mode Mode
	// Level is default (the zero value) or strict.
	Level Level
	// ControllerOwned is report (the zero value) or enforce.
	ControllerOwned ControllerOwned
	// DenyMissingServiceOnDryRun keeps HG002 a denial on dry-run requests.
	DenyMissingServiceOnDryRun bool
	// ClusterDomain is the cluster DNS domain (default cluster.local).
	ClusterDomain string
}

// SetOverride parses "HG004=warn" (or "selector-matches-pods=warn") against reg.
func (p *Policy) SetOverride(reg *Registry, spec string) error {
	id, value, ok := strings.Cut(spec, "=")
	if !ok {
		return fmt.Errorf("invalid rule override %q: must be RULE=deny|warn|off, e.g. HG004=warn", spec)
	}
	rule, found := reg.Get(strings.TrimSpace(id))
	if !found {
		return fmt.Errorf("invalid rule override %q: unknown rule %q (known: %s)", spec, id, strings.Join(reg.IDs(), ", "))
	}
	action, err := ParseAction(value)
	if err != nil {
		return fmt.Errorf("invalid rule override %q: %w", spec, err)
	}
	if p.Overrides == nil {
		p.Overrides = map[string]Action{}
	}
	p.Overrides[rule.ID] = action
	return nil
}

// Configured returns the action a rule runs with before per-request adjustments.
func (p *Policy) Configured(rule *Rule) Action {
	if a, ok := p.Overrides[rule.ID]; ok {
		return a
	}
	return rule.Default
}

func (p *Policy) clusterDomain() string {
	if p.ClusterDomain == "" {
		return DefaultClusterDomain
	}
	return p.ClusterDomain
}
