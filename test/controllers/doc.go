// Package controllers tests what headless-guard does beside answering
// admission requests, on a control plane its tests share (and clusters of
// their own where a test changes what the others rely on): the injector
// that creates missing headless Services, the audit with its events,
// gauges and openreports.io Reports, and how both treat objects that
// operators own. A test of a reconciler goes here.
package controllers
