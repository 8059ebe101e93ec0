// Package node holds the end-to-end tests on a real node: the examples' builders run as real
// containers under a real kubelet (containerd, runc, a CNI bridge), are Ready by their own
// readiness probes, and build through exec into their pods. The package starts its environment
// with testenv.MainNode and checks that stopping it leaves the machine as it was.
package node
