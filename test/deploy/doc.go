// Package deploy tests what ships: the deploy/ overlays (rendered by the
// real kubectl, applied to a real API server, the binary run with exactly
// their RBAC), the Helm chart (lint, golden renders in testdata/helm,
// install with Helm 3 and 4), the release artifacts and image, the
// cert-manager mode with real cert-manager, and that the deployed guard can
// do nothing its RBAC and admission policy forbid. Tests start clusters of
// their own. A test of a file under deploy/, the Dockerfile or `make
// release` goes here.
package deploy
