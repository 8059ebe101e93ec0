package render

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoClientImports keeps the pure packages pure: neither render nor spec may depend on a
// Kubernetes client, directly or through another package.
func TestNoClientImports(t *testing.T) {
	pkgs := []string{"github.com/bkctl/bkctl/internal/render", "github.com/bkctl/bkctl/internal/spec"}
	out, err := exec.Command("go", append([]string{"list", "-deps", "-f", "{{.ImportPath}}"}, pkgs...)...).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < len(pkgs) {
		t.Fatalf("go list returned %d packages, want at least %d", len(deps), len(pkgs))
	}
	for _, dep := range deps {
		if dep == "k8s.io/client-go" || strings.HasPrefix(dep, "k8s.io/client-go/") {
			t.Errorf("pure packages depend on %s", dep)
		}
	}
}
