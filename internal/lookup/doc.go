// Package lookup answers the rules' lookups from an informer cache: the
// indexes (StatefulSets by serviceName, Services by selector pair, pod
// templates by label pair and subdomain), the cache transform that keeps
// only what the rules read, and the namespace labels. The webhook and the
// audit both read through it; InMemory builds the same from objects in
// memory for tests and offline replays.
package lookup
