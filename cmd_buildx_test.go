package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuildxWriteAndImportCommands(t *testing.T) {
	dir := t.TempDir()
	bx := filepath.Join(dir, "buildx")
	file := writeFile(t, dir, "builders.yaml", validFile)

	code, out, errs := runCLI(t, "", "buildx", "write", "-f", file, "--buildx-config", bx, "--kubeconfig", "")
	want := "kube: created " + filepath.Join(bx, "instances", "kube") + " (1 node)\n"
	if code != 0 || out != want || errs != "" {
		t.Errorf("write: code %d, stdout %q, stderr %q; want stdout %q", code, out, errs, want)
	}
	code, out, _ = runCLI(t, "", "buildx", "write", "-f", file, "--buildx-config", bx, "-o", "json")
	var got struct {
		Dir      string `json:"dir"`
		Builders []struct {
			Builder, Action string
		} `json:"builders"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || code != 0 || got.Dir != bx || len(got.Builders) != 1 || got.Builders[0].Action != "unchanged" {
		t.Errorf("write again -o json: code %d, %+v, %v, from %q", code, got, err, out)
	}

	code, out, errs = runCLI(t, "", "import", "--buildx-config", bx, "--name", "ci", "--namespace", "buildkit")
	if code != 0 || errs != "" || !strings.Contains(out, "  - name: kube\n    nodes:\n      - name: kube0\n        platforms: [linux/amd64]\n") {
		t.Fatalf("import: code %d, stderr %q, stdout:\n%s", code, errs, out)
	}
	imported := writeFile(t, dir, "imported.yaml", out)
	if code, out, errs := runCLI(t, "", "validate", imported); code != 0 {
		t.Errorf("validate the import: code %d, %q, %q", code, out, errs)
	}

	// An instance with an unmappable driver-opt.
	inst := filepath.Join(bx, "instances", "kube")
	data, err := os.ReadFile(inst)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(inst, []byte(strings.Replace(string(data), `"DriverOpts":{`, `"DriverOpts":{"foo":"bar",`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCLI(t, "", "import", "--buildx-config", bx, "--builder", "kube")
	if code != 1 || out != "" || !strings.Contains(errs, `builder "kube" node "kube0": driver-opt "foo" has no builders.yaml field`) {
		t.Errorf("unmappable: code %d, stdout %q, stderr %q", code, out, errs)
	}
}
