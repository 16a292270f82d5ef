// Package netlimit bounds what a peer on the pod network can hold of a
// server that any pod may reach: connection slots (per source address and
// in total, with idle ones given up first), header bytes, and the time to
// finish a TLS handshake, send headers, a body, or nothing at all.
package netlimit
