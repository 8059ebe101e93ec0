// Package testenv runs the real local test environment (a Kubernetes control plane with kwok
// nodes, a registry and one buildkitd per builder pod) for integration tests (docs/testenv.md).
package testenv
