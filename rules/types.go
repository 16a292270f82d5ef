package rules

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Action is what happens when a rule finds something: deny the object, warn
// about it, or do not run the rule at all.
type Action string

const (
	// ActionDeny rejects the request (webhook) or fails the check (exit 1).
	ActionDeny Action = "deny"
	// ActionWarn returns an admission warning or a non-failing finding.
	ActionWarn Action = "warn"
	// ActionOff disables the rule.
	ActionOff Action = "off"
)

// ParseAction parses "deny", "warn" or "off".
func ParseAction(s string) (Action, error) {
	switch a := Action(strings.ToLower(strings.TrimSpace(s))); a {
	case ActionDeny, ActionWarn, ActionOff:
		return a, nil
	}
	return "", fmt.Errorf("unknown action %q: must be one of deny, warn, off", s)
}

// Operation is the admission operation a Request describes.
type Operation string

const (
	// Create is an object being created (the only operation the offline checker uses).
	Create Operation = "CREATE"
	// Update is an object being replaced; Request.OldObject holds the stored object.
	Update Operation = "UPDATE"
	// Delete is an object being deleted; Request.OldObject holds the stored object.
	Delete Operation = "DELETE"
)

// Kind names of the objects the rules understand.
const (
	KindStatefulSet = "StatefulSet"
	KindService     = "Service"
	KindPod         = "Pod"
	KindDeployment  = "Deployment"
	KindReplicaSet  = "ReplicaSet"
	KindDaemonSet   = "DaemonSet"
	KindJob         = "Job"
	KindCronJob     = "CronJob"
)

// PodTemplateOwnerKinds are the kinds whose pod template may ask for a DNS
// subdomain (HG012): the kinds of Kinds with a pod template but
// StatefulSet, in the order docs/rules.md lists them
// (TestPodTemplateOwnerKindsAreTheTable holds them equal to the table).
var PodTemplateOwnerKinds = []string{KindPod, KindDeployment, KindReplicaSet, KindJob, KindCronJob, KindDaemonSet}

// Request is one object to evaluate: an admission request, or a manifest
// document that the offline checker treats as a CREATE.
type Request struct {
	Operation Operation
	// Object is the new object (CREATE, UPDATE); nil on DELETE.
	Object runtime.Object
	// OldObject is the stored object (UPDATE, DELETE).
	OldObject runtime.Object
	// DryRun is true for server-side dry-run requests.
	DryRun bool
}

// subject is the object the request is about: the new one, or the old one on DELETE.
func (r *Request) subject() runtime.Object {
	if r.Object != nil {
		return r.Object
	}
	return r.OldObject
}

// ObjectRef names an object in findings and reports.
type ObjectRef struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
}

func (o ObjectRef) String() string {
	if o.Namespace == "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// RefOf returns the reference of one of the supported objects; it falls back to
// the object's own TypeMeta for anything else.
func RefOf(obj runtime.Object) ObjectRef {
	kind, apiVersion := KindOf(obj)
	ref := ObjectRef{APIVersion: apiVersion, Kind: kind}
	if m, ok := obj.(metav1.Object); ok {
		ref.Namespace, ref.Name = m.GetNamespace(), m.GetName()
	}
	return ref
}

// KindOf returns the kind and apiVersion of a supported typed object, which do
// not depend on TypeMeta being filled in (decoders often leave it empty).
func KindOf(obj runtime.Object) (kind, apiVersion string) {
	if k := KindInfoOf(obj); k != nil {
		return k.Name, k.GVK.GroupVersion().String()
	}
	if obj == nil {
		return "", ""
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	return gvk.Kind, gvk.GroupVersion().String()
}

// Finding is one problem a rule found in one object.
type Finding struct {
	// Rule is the registry entry that produced the finding.
	Rule *Rule
	// Action is the effective action after overrides, mode, dry-run and the
	// UPDATE downgrade (never ActionOff).
	Action Action
	// Object is the object the finding is about.
	Object ObjectRef
	// Error carries the field path, the error type, the bad value and the
	// message (Detail), in the form apierrors.NewInvalid expects.
	Error *field.Error
	// Key identifies the underlying defect across objects: the offline checker
	// sees both sides of a StatefulSet/Service pair and reports each defect
	// once, on the side whose finding is Primary.
	Key string
	// Primary marks the side of a pair defect that the offline checker keeps.
	Primary bool
	// Reason says, in a few words, why a finding the rule's action would
	// deny is only a warning ("controller-owned", "a Service create",
	// "nothing in the pod template uses the per-pod names"): the webhook
	// puts it in the warning, so that whoever reads it knows why the
	// object was admitted and that the audit follows it up. Empty when the
	// action was not capped for the policy's sake.
	Reason string
	// InjectReplaces is the rule's Problem.InjectReplaces: the Service that
	// inject-service creates repairs this finding, so that where injection
	// is on for the object the webhook warns with what it will create
	// instead of denying or warning with the finding.
	InjectReplaces bool
}

// Field returns the field path the finding points at, e.g. "spec.serviceName".
func (f Finding) Field() string { return f.Error.Field }

// Message returns the finding's message in Kubernetes style ("must …").
func (f Finding) Message() string { return f.Error.Detail }

// String renders the finding the way kubectl renders a field error.
func (f Finding) String() string {
	return fmt.Sprintf("%s %s %s: %s", f.Rule.ID, f.Action, f.Object, f.Error.Error())
}
