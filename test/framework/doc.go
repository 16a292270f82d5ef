// Package framework is what the test packages under test/ share, over the
// control plane of test/cluster: their TestMain (Main, which finds the
// binary under test), the one cluster with headless-guard that a package's
// tests share (Shared), and the helpers tests of several areas call: run
// the binary (Run, Shell), kubectl (Kubectl, Namespace), objects
// (ServiceYAML, StatefulSetYAML), guard replicas and clusters of a test's
// own (StartReplica, OwnCluster), the deploy/ overlays and the chart
// (Render, HelmBinary). A helper that one package alone uses stays in it.
package framework
