// Package test holds the end-to-end tests: they build the real
// headless-guard binary and drive it the way users and CI pipelines do.
package test
