package rules

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// catalogue is the rule registry: one explicit, greppable table. The order is
// the documentation order; IDs are stable and never reused.
var catalogue = []*Rule{
	hg001ServiceNameSet,          // HG001 service-name-set
	hg002ServiceExists,           // HG002 service-exists
	hg003ServiceHeadless,         // HG003 service-headless
	hg004SelectorMatchesPods,     // HG004 selector-matches-pods
	hg005PortsNamed,              // HG005 ports-named
	hg006TargetPortResolves,      // HG006 target-port-resolves
	hg007NameLengths,             // HG007 name-lengths
	hg008SelectsOnlyThisSet,      // HG008 selects-only-this-set
	hg009PublishNotReady,         // HG009 publish-not-ready
	hg010ReferencedServiceDelete, // HG010 referenced-service-delete
	hg011ReferencedServiceUpdate, // HG011 referenced-service-update
	hg012SubdomainService,        // HG012 subdomain-service
	hg013PeerNamesMatchPods,      // HG013 peer-names-match-pods
}

// The rule IDs: stable, and what users name in --rule, the skip
// annotation and the docs. Code refers to a rule by these.
const (
	HG001 = "HG001" // service-name-set
	HG002 = "HG002" // service-exists
	HG003 = "HG003" // service-headless
	HG004 = "HG004" // selector-matches-pods
	HG005 = "HG005" // ports-named
	HG006 = "HG006" // target-port-resolves
	HG007 = "HG007" // name-lengths
	HG008 = "HG008" // selects-only-this-set
	HG009 = "HG009" // publish-not-ready
	HG010 = "HG010" // referenced-service-delete
	HG011 = "HG011" // referenced-service-update
	HG012 = "HG012" // subdomain-service
	HG013 = "HG013" // peer-names-match-pods
)

// CheckFunc evaluates one rule against the request in c and returns what it found.
type CheckFunc func(c *Context) []Problem

// Rule is one entry of the catalogue.
type Rule struct {
	// ID is the stable identifier, e.g. "HG004".
	ID string
	// Name is the stable kebab-case name, e.g. "selector-matches-pods".
	Name string
	// Summary says in one sentence what the rule checks.
	Summary string
	// Why says what goes wrong in the cluster when the rule is broken.
	Why string
	// Remediation is one sentence, ending with a period, that says how to fix it.
	Remediation string
	// Kinds are the object kinds the rule is evaluated for.
	Kinds []string
	// Operations are the admission operations the rule is evaluated for.
	Operations []Operation
	// Default is the action when no override applies. It follows from DNS:
	// deny only when the pods lose their per-pod names (DNSLoss.BreaksNames).
	Default Action
	// DNS lists the ways the rule can be broken and, for each, what CoreDNS
	// answers for the pods; test/e2e breaks each case in a real cluster and
	// fails when CoreDNS answers otherwise.
	DNS []DNSCase
	// Certainty says what makes a finding of the rule a certain mistake,
	// which the default policy denies (the others are Problem.Uncertain
	// and warn); empty when every finding is certain.
	Certainty string
	// DryRunWarn caps the action at warn on dry-run requests (HG002: a dry-run
	// of a multi-object apply does not persist siblings, kubernetes #83562).
	DryRunWarn bool
	// Fix names the fix that repairs the finding, if any.
	Fix string
	// Check is the rule itself.
	Check CheckFunc
}

// Anchor is the rule's anchor in docs/rules.md.
func (r *Rule) Anchor() string { return strings.ToLower(r.ID) }

// DocsURL is where the rule is documented.
func (r *Rule) DocsURL() string { return DocsBaseURL + "#" + r.Anchor() }

// DocsBaseURL is the published rule reference.
const DocsBaseURL = "https://github.com/headless-guard/headless-guard/blob/main/docs/rules.md"

func (r *Rule) appliesTo(kind string, op Operation) bool {
	return slices.Contains(r.Kinds, kind) && slices.Contains(r.Operations, op)
}

// Registry is an immutable set of rules indexed by ID.
type Registry struct {
	rules []*Rule
	byID  map[string]*Rule
}

// NewRegistry builds a registry; it panics on a duplicate or malformed entry,
// which is a programming error caught by the first test that runs.
func NewRegistry(rules ...*Rule) *Registry {
	r := &Registry{byID: make(map[string]*Rule, len(rules))}
	for _, rule := range rules {
		switch {
		case rule.ID == "" || rule.Name == "" || rule.Check == nil:
			panic(fmt.Sprintf("rules: incomplete rule %q", rule.ID))
		case r.byID[rule.ID] != nil:
			panic(fmt.Sprintf("rules: duplicate rule ID %s", rule.ID))
		case rule.Default != ActionDeny && rule.Default != ActionWarn && rule.Default != ActionOff:
			panic(fmt.Sprintf("rules: rule %s has invalid default action %q", rule.ID, rule.Default))
		}
		for _, other := range r.rules {
			if other.Name == rule.Name {
				panic(fmt.Sprintf("rules: duplicate rule name %s (%s, %s)", rule.Name, other.ID, rule.ID))
			}
		}
		r.byID[rule.ID] = rule
		r.rules = append(r.rules, rule)
	}
	return r
}

var defaultRegistry = NewRegistry(catalogue...)

// Default returns the registry with every rule of the catalogue.
func Default() *Registry { return defaultRegistry }

// Rules returns the rules in catalogue order.
func (r *Registry) Rules() []*Rule { return slices.Clone(r.rules) }

// Get returns the rule with the given ID (case-insensitive) or its name.
func (r *Registry) Get(idOrName string) (*Rule, bool) {
	if rule, ok := r.byID[strings.ToUpper(idOrName)]; ok {
		return rule, true
	}
	for _, rule := range r.rules {
		if rule.Name == idOrName {
			return rule, true
		}
	}
	return nil, false
}

// IDs returns every rule ID, sorted.
func (r *Registry) IDs() []string {
	ids := make([]string, 0, len(r.rules))
	for id := range r.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}
