// Package publiccharts applies rendered public charts (those of
// internal/check/testdata/publiccharts and testdata/charts20) through
// kubectl and the webhook, on a control plane its tests share, and checks
// that exactly what the offline checker denies is denied, in the default
// and strict policies, and that the rest is reported. It is a package of
// its own because it takes the longest: beside the others it runs in
// parallel. A new public chart goes into its testdata.
package publiccharts
