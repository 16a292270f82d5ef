package rules

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Lookup gives rules read access to the other objects of a namespace. The
// webhook implements it over its informer cache (live GET on a miss), the
// offline checker over the loaded manifests. Returned objects are shared and
// must not be modified.
type Lookup interface {
	// Service returns the Service namespace/name, or nil when there is none.
	Service(namespace, name string) (*corev1.Service, error)
	// ServicesSelecting returns the Services of the namespace whose non-empty
	// selector matches labels.
	ServicesSelecting(namespace string, labels map[string]string) ([]*corev1.Service, error)
	// StatefulSetsFor returns the StatefulSets of the namespace whose
	// spec.serviceName is serviceName.
	StatefulSetsFor(namespace, serviceName string) ([]*appsv1.StatefulSet, error)
	// WorkloadsSelectedBy returns the pod-template owners of the namespace,
	// StatefulSets included, whose template labels match a non-empty selector.
	WorkloadsSelectedBy(namespace string, selector map[string]string) ([]Workload, error)
	// ConfigMap returns the ConfigMap namespace/name, or nil when there is
	// none. It may cost a request to the API server: rules read one only
	// where a verdict depends on it (evidence that per-pod names are used).
	ConfigMap(namespace, name string) (*corev1.ConfigMap, error)
}

// Problem is what a CheckFunc returns: a field error plus how to report it.
type Problem struct {
	*field.Error
	// Key identifies the defect across objects (see Finding.Key); empty when
	// the defect belongs to the object alone.
	Key string
	// Primary marks the side of a pair defect the offline checker reports.
	Primary bool
	// WarnOnly caps the action at warn (HG011 for a break of a check that
	// only warns).
	WarnOnly bool
	// Uncertain says that what admission can see does not make the defect
	// a certain mistake (nothing shows that anyone looks the names up): in
	// LevelDefault it caps the action at warn, and Reason says why; in
	// LevelStrict it changes nothing.
	Uncertain bool
	// Reason is the short human reason that goes with Uncertain.
	Reason string
	// InjectReplaces says that the Service inject-service creates repairs
	// the defect (a missing governing Service): where injection is on for
	// the object, admission says what will be created instead of reporting
	// the finding (see Finding.InjectReplaces).
	InjectReplaces bool
}

// SameDefect reports whether p and q are the same defect of an object:
// the same Key, field and error type, whatever the bad value. It is the
// one definition of "the stored object already had it", which makes a
// finding on UPDATE a warning (Evaluate): a StatefulSet whose template
// labels never matched its Service stays updatable when a chart upgrade
// changes another of those labels.
func (p Problem) SameDefect(q Problem) bool {
	return p.Key == q.Key && p.Field == q.Field && p.Type == q.Type
}

// Context is what a CheckFunc sees: the request, the policy, and lookups that
// remember the first error so that Evaluate can discard a verdict built on a
// failed read instead of mistaking it for "not found".
type Context struct {
	Request *Request
	Policy  *Policy
	lookup  Lookup
	err     error
	// rule is the rule being run (nil when fixes are planned).
	rule *Rule
	// scans are the configuration scans of the evaluation, shared by its
	// rules.
	scans scanMemo
}

// Service looks up a Service; nil when it does not exist or the lookup failed.
func (c *Context) Service(namespace, name string) *corev1.Service {
	svc, err := c.lookup.Service(namespace, name)
	c.fail(err)
	return svc
}

// ServicesSelecting lists the Services of a namespace that select labels.
func (c *Context) ServicesSelecting(namespace string, labels map[string]string) []*corev1.Service {
	list, err := c.lookup.ServicesSelecting(namespace, labels)
	c.fail(err)
	return list
}

// WorkloadsSelectedBy lists the pod-template owners of a namespace that selector selects.
func (c *Context) WorkloadsSelectedBy(namespace string, selector map[string]string) []Workload {
	list, err := c.lookup.WorkloadsSelectedBy(namespace, selector)
	c.fail(err)
	return list
}

// GoverningStatefulSets returns the StatefulSets whose spec.serviceName names svc.
func (c *Context) GoverningStatefulSets(svc *corev1.Service) []*appsv1.StatefulSet {
	return c.StatefulSetsFor(svc.Namespace, svc.Name)
}

// StatefulSetsFor returns the StatefulSets of namespace whose
// spec.serviceName is serviceName.
func (c *Context) StatefulSetsFor(namespace, serviceName string) []*appsv1.StatefulSet {
	list, err := c.lookup.StatefulSetsFor(namespace, serviceName)
	c.fail(err)
	return list
}

func (c *Context) fail(err error) {
	if err != nil && c.err == nil {
		c.err = err
	}
}
