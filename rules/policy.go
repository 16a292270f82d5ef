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

// DefaultClusterDomain is the DNS domain the FQDN length check assumes.
const DefaultClusterDomain = "cluster.local"

// Policy decides the effective action of each finding. The zero value is
// usable: defaults from the catalogue, enforce mode, cluster.local.
type Policy struct {
	// Overrides maps a rule ID to the action that replaces its default.
	Overrides map[string]Action
	// Mode is enforce (default) or warn.
	Mode Mode
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
