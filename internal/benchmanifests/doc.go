// Package benchmanifests generates realistic manifest sets for the checker's
// benchmarks and load tests (BenchmarkCheck, hack/benchcheck, the loader's
// fast-path tests): StatefulSets with their headless Services, Deployments
// with plain Services, ConfigMaps, and a few broken wirings, in the shapes
// `helm template` prints.
//
// Write prints a stream (as `helm template` would), WriteDir a directory of
// files (as a repository would hold them). The shapes are fixed so that
// figures compare across commits (docs/performance.md): a benchmark that
// needs another shape adds a writer here rather than changing these.
package benchmanifests
