package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs bkctl in-process and returns its exit code and streams.
func runCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, streams{In: strings.NewReader(stdin), Out: &out, Err: &errb})
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const validFile = `apiVersion: bkctl/v1alpha1
kind: Builders
metadata: {name: ci, namespace: buildkit}
builders:
  - name: kube
    nodes: [{platforms: [linux/amd64]}]
`

func TestValidateCommand(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "builders.yaml", validFile)
	bad := writeFile(t, dir, "bad.yaml", strings.Replace(validFile, "platforms:", "platform:", 1))

	code, out, errs := runCLI(t, "", "validate", good)
	if code != 0 || out != good+": valid (1 builder, 1 node)\n" || errs != "" {
		t.Errorf("valid file: code %d, stdout %q, stderr %q", code, out, errs)
	}

	code, out, errs = runCLI(t, "", "validate", "-f", good, bad)
	wantErr := bad + `:6:14: builders[0].nodes[0]: unknown field "platform" (did you mean "platforms"?)` + "\n1 error in 1 invalid file\n"
	if code != 1 || errs != wantErr || !strings.Contains(out, good+": valid") {
		t.Errorf("one bad file: code %d, stdout %q, stderr %q\nwant stderr %q", code, out, errs, wantErr)
	}

	code, out, _ = runCLI(t, validFile, "validate", "-f", "-", "-o", "json")
	var got struct {
		Valid bool `json:"valid"`
		Files []struct {
			File  string `json:"file"`
			Valid bool   `json:"valid"`
			Nodes int    `json:"nodes"`
		} `json:"files"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("json output: %v\n%s", err, out)
	}
	if code != 0 || !got.Valid || len(got.Files) != 1 || got.Files[0].File != "-" || got.Files[0].Nodes != 1 {
		t.Errorf("stdin json: code %d, %+v", code, got)
	}

	code, out, _ = runCLI(t, "", "validate", "-o", "json", bad)
	var gotBad struct {
		Files []struct {
			Errors []struct {
				Line, Column int
				Field        string
			} `json:"errors"`
		} `json:"files"`
	}
	if err := json.Unmarshal([]byte(out), &gotBad); err != nil {
		t.Fatal(err)
	}
	if code != 1 || len(gotBad.Files[0].Errors) != 1 || gotBad.Files[0].Errors[0].Line != 6 || gotBad.Files[0].Errors[0].Column != 14 {
		t.Errorf("bad json: code %d, %+v", code, gotBad)
	}
}

func TestUsageErrorsExitOne(t *testing.T) {
	for _, args := range [][]string{{"bogus"}, {"validate"}, {"validate", "-o", "xml", "x"}, {"render"}} {
		if code, _, _ := runCLI(t, "", args...); code != 1 {
			t.Errorf("bkctl %v: exit %d, want 1 (never 2, which means changes pending)", args, code)
		}
	}
	if code, out, _ := runCLI(t, "", "--help"); code != 0 || !strings.Contains(out, "validate") {
		t.Errorf("--help: exit %d, output %q", code, out)
	}
}

func TestRenderCommand(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "builders.yaml", validFile)
	code, out, errs := runCLI(t, "", "render", "-f", good)
	if code != 0 || !strings.Contains(out, "kind: Deployment\n") || !strings.Contains(out, "name: kube0\n") || errs != "" {
		t.Errorf("render: code %d stderr %q\n%s", code, errs, out)
	}
	code, out, _ = runCLI(t, "", "render", "-f", good, "-o", "json")
	var list struct {
		Kind  string           `json:"kind"`
		Items []map[string]any `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || code != 0 || list.Kind != "List" || len(list.Items) != 1 {
		t.Errorf("render json: code %d err %v list %+v", code, err, list)
	}
	bad := writeFile(t, dir, "bad.yaml", strings.Replace(validFile, "linux/amd64", "linux/amd65", 1))
	code, out, errs = runCLI(t, "", "render", "-f", bad)
	if code != 1 || out != "" || !strings.Contains(errs, `bad.yaml:6:26: builders[0].nodes[0].platforms[0]: unknown architecture "amd65"`) {
		t.Errorf("render of an invalid file: code %d stdout %q stderr %q", code, out, errs)
	}
}

// TestValidateExamples: `bkctl validate examples/*.yaml` passes: examples/ holds only builders
// files (the RBAC objects bkctl needs are in deploy/).
func TestValidateExamples(t *testing.T) {
	files, err := filepath.Glob("examples/*.yaml")
	if err != nil || len(files) < 5 {
		t.Fatalf("found %d examples: %v", len(files), err)
	}
	code, out, errs := runCLI(t, "", append([]string{"validate"}, files...)...)
	if code != 0 || errs != "" || strings.Count(out, ": valid (") != len(files) {
		t.Errorf("validate examples/*.yaml: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
}

// TestSchemaCommand: bkctl schema prints the embedded schema, byte for byte, as JSON.
func TestSchemaCommand(t *testing.T) {
	code, out, errs := runCLI(t, "", "schema")
	want, err := os.ReadFile("schema/builders.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 || errs != "" || out != string(want) || !json.Valid([]byte(out)) {
		t.Errorf("schema: exit %d, stderr %q, %d bytes, want the %d of schema/builders.schema.json", code, errs, len(out), len(want))
	}
}
