package testenv

import (
	"fmt"
	"runtime"

	corev1 "k8s.io/api/core/v1"

	"github.com/bkctl/bkctl/internal/spec"
)

// OtherArch says which node of f selects another architecture than this machine's, which a real
// node here cannot run (a kubelet reports its own architecture); "" when none does. The kwok
// nodes serve amd64 and arm64 alike.
func OtherArch(f *spec.File) string {
	for _, b := range f.Builders {
		for i, n := range b.Nodes {
			if arch, ok := n.NodeSelector[corev1.LabelArchStable]; ok && arch != runtime.GOARCH {
				name := n.Name
				if name == "" {
					name = fmt.Sprintf("%s%d", b.Name, i)
				}
				return fmt.Sprintf("its node %s selects %s=%s, and this machine is %s", name, corev1.LabelArchStable, arch, runtime.GOARCH)
			}
		}
	}
	return ""
}
