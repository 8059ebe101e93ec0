// Package faults holds the tests that break the cluster on purpose while bkctl applies: they kill
// kube-apiserver, hold requests in an admission webhook, interrupt the real binary with SIGINT.
// The package runs on a test environment of its own (testenv.MainOwn), never on a shared one.
package faults
