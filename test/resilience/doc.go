// Package resilience tests headless-guard under attack and failure:
// hostile admission clients and network attacks, certificates created,
// shared and rotated under load, the API server going away, a replica
// terminated and a graceful shutdown under load, the TLS policy, metrics
// behind authentication and authorization, and (with -tags soak, `make
// soak`) ten minutes of mixed load. docs/reliability.md names the test of
// each row. A test of a limit, a fault or an attack goes here.
package resilience
