package diff

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoClientImports keeps diff pure: it compares objects it is given and never talks to a
// cluster, so it may not depend on a Kubernetes client, directly or through another package.
func TestNoClientImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "github.com/bkctl/bkctl/internal/diff").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 2 {
		t.Fatalf("go list returned %d packages", len(deps))
	}
	for _, dep := range deps {
		for _, banned := range []string{"k8s.io/client-go", "sigs.k8s.io/controller-runtime", "github.com/fluxcd/pkg/ssa"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("diff depends on %s", dep)
			}
		}
	}
}
