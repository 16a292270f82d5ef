package rules

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
)

// SkipAnnotation opts an object out of some rules: "HG004,HG006" or "all".
const SkipAnnotation = "headless-guard.io/skip"

// SkipAll is the SkipAnnotation value that opts out of every rule.
const SkipAll = "all"

// Result is the outcome of evaluating one request.
type Result struct {
	// Findings are the problems found, in catalogue order.
	Findings []Finding
	// Skipped are the IDs of the rules that applied to the object but were
	// opted out by its SkipAnnotation.
	Skipped []string
}

// Denied reports whether any finding has the deny action.
func (r *Result) Denied() bool {
	for _, f := range r.Findings {
		if f.Action == ActionDeny {
			return true
		}
	}
	return false
}

// Denials returns the findings with the deny action.
func (r *Result) Denials() []Finding { return r.filter(ActionDeny) }

// Warnings returns the findings with the warn action.
func (r *Result) Warnings() []Finding { return r.filter(ActionWarn) }

func (r *Result) filter(a Action) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Action == a {
			out = append(out, f)
		}
	}
	return out
}

// LookupError is returned by Evaluate when a rule could not read what it
// needed; the verdict of that rule is unknown.
type LookupError struct {
	Rule *Rule
	Err  error
}

func (e *LookupError) Error() string {
	return fmt.Sprintf("%s %s: lookup failed: %v", e.Rule.ID, e.Rule.Name, e.Err)
}

func (e *LookupError) Unwrap() error { return e.Err }

// Evaluate runs every rule of the registry that applies to the request's kind
// and operation. A lookup failure stops evaluation with a *LookupError: the
// caller decides the verdict (the webhook's failure policy), because a rule
// that could not read a Service must not report it missing.
//
// On UPDATE, a finding that the stored object already had (same rule, field,
// error type and Problem.Key) is a warning, never a denial: existing objects
// must stay scalable and updatable. The Key tells apart defects that share a
// field, such as two Service ports that target no container port.
//
// What may deny follows certainty: a finding that would deny is a warning,
// with Finding.Reason saying why, when the subject is controller-owned
// (unless Policy.ControllerOwned is enforce), when the request creates a
// Service, or, in LevelDefault, when the rule is not certain of it
// (Problem.Uncertain). LevelStrict denies whatever the certainty.
func (r *Registry) Evaluate(req *Request, lookup Lookup, policy *Policy) (*Result, error) {
	if policy == nil {
		policy = &Policy{}
	}
	subject := req.subject()
	if subject == nil {
		return nil, fmt.Errorf("request has no object")
	}
	kind, _ := KindOf(subject)
	ref := RefOf(subject)
	skip := skipSet(subject)

	res := &Result{}
	scans := scanMemo{}
	controllerOwned := ControllerOwnedObject(subject)
	for _, rule := range r.rules {
		if !rule.appliesTo(kind, req.Operation) {
			continue
		}
		if policy.Configured(rule) == ActionOff {
			continue
		}
		if skip.Has(SkipAll) || skip.Has(rule.ID) {
			res.Skipped = append(res.Skipped, rule.ID)
			continue
		}
		problems, err := run(rule, req, lookup, policy, scans)
		if err != nil {
			return nil, err
		}
		if len(problems) == 0 {
			continue
		}
		var before []Problem
		if req.Operation == Update && req.OldObject != nil {
			before, err = run(rule, &Request{Operation: Create, Object: req.OldObject, DryRun: req.DryRun}, lookup, policy, scans)
			if err != nil {
				return nil, err
			}
		}
		for _, p := range problems {
			action, reason := policy.Decide(rule, Decision{
				Kind: kind, Operation: req.Operation, DryRun: req.DryRun,
				ControllerOwned: controllerOwned, Uncertain: p.Uncertain, Reason: p.Reason,
				Restated: slices.ContainsFunc(before, p.SameDefect), WarnOnly: p.WarnOnly,
			})
			res.Findings = append(res.Findings, Finding{
				Rule: rule, Action: action, Object: ref, Error: p.Error, Key: p.Key, Primary: p.Primary, Reason: reason,
				InjectReplaces: p.InjectReplaces,
			})
		}
	}
	return res, nil
}

func run(rule *Rule, req *Request, lookup Lookup, policy *Policy, scans scanMemo) ([]Problem, error) {
	c := &Context{Request: req, Policy: policy, lookup: lookup, rule: rule, scans: scans}
	problems := rule.Check(c)
	if c.err != nil {
		return nil, &LookupError{Rule: rule, Err: c.err}
	}
	return problems, nil
}

// Decision is what decides the action of one finding besides the rule and
// the policy.
type Decision struct {
	// Kind and Operation are the request's.
	Kind      string
	Operation Operation
	// DryRun is a server-side dry-run request.
	DryRun bool
	// ControllerOwned is set when the subject has a `controller: true`
	// ownerReference.
	ControllerOwned bool
	// Uncertain and Reason are the Problem's.
	Uncertain bool
	Reason    string
	// Restated is set on UPDATE when the stored object had the same defect.
	Restated bool
	// WarnOnly is the Problem's.
	WarnOnly bool
}

// Decide returns the action of a finding of rule and, when the policy
// made a denial a warning, the short reason why. It is the one place
// where the verdict is decided: Evaluate calls it for every finding, and
// the rule reference (docs/rules.md) prints its answers.
func (p *Policy) Decide(rule *Rule, d Decision) (Action, string) {
	action := p.Configured(rule)
	if d.WarnOnly || p.Mode == ModeWarn || d.Restated ||
		(rule.DryRunWarn && d.DryRun && !p.DenyMissingServiceOnDryRun) {
		action = milder(action, ActionWarn)
	}
	if action != ActionDeny {
		return action, ""
	}
	switch {
	case d.Kind == KindService && d.Operation == Create:
		// A Service's author may not be the author of the StatefulSets
		// that name it: a Service create is never denied for someone
		// else's StatefulSet, in either level.
		return ActionWarn, reasonServiceCreate
	case d.ControllerOwned && p.ControllerOwned != ControllerOwnedEnforce:
		// A controller cannot read a denial: it retries forever, and what
		// it manages never comes up.
		return ActionWarn, reasonControllerOwned
	case d.Uncertain && p.Level != LevelStrict:
		return ActionWarn, d.Reason
	}
	return action, ""
}

// milder orders actions by severity: warn is milder than deny.
func milder(a, b Action) Action {
	if a == ActionWarn || b == ActionWarn {
		return ActionWarn
	}
	return a
}

// UnknownSkips returns the entries of obj's SkipAnnotation that name no
// rule of the registry (such as "HG04", or a rule's name instead of its
// ID), in the annotation's order: those entries skip nothing, and the
// rules their author meant to skip still run.
func (r *Registry) UnknownSkips(obj any) []string {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil
	}
	value, ok := m.GetAnnotations()[SkipAnnotation]
	if !ok {
		return nil
	}
	var out []string
	for _, part := range strings.Split(value, ",") {
		part = strings.TrimSpace(part)
		if part == "" || strings.EqualFold(part, SkipAll) {
			continue
		}
		if _, known := r.byID[strings.ToUpper(part)]; !known && !slices.Contains(out, part) {
			out = append(out, part)
		}
	}
	return out
}

func skipSet(obj any) sets.Set[string] {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil
	}
	value, ok := m.GetAnnotations()[SkipAnnotation]
	if !ok {
		return nil
	}
	s := sets.New[string]()
	for _, part := range strings.Split(value, ",") {
		if part = strings.TrimSpace(part); part != "" {
			if strings.EqualFold(part, SkipAll) {
				s.Insert(SkipAll)
			} else {
				s.Insert(strings.ToUpper(part))
			}
		}
	}
	return s
}
