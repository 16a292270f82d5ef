// Package lookup answers the rules' lookups from an informer cache: the
// indexes (StatefulSets by serviceName, Services by selector pair, pod
// templates by label pair and subdomain, each value hashed into a bucket),
// the cache transform that keeps only what the rules read (Services and
// StatefulSets as compact records, CachedService and CachedStatefulSet,
// the other pod-template owners as CachedWorkload, and a controller's
// copies as a record of their identity, CachedCopy),
// and the namespace labels. The webhook, the audit and inject-services
// all read through it (the controllers read StatefulSets with
// CacheLookup.Object and Objects, and what their watches receive with
// ObjectOf); InMemory builds the same from objects in memory for tests and
// offline replays.
package lookup
