package schema_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// ajvBinary finds ajv-cli as hack/ajv.sh installs it (make ajv; make test runs it first). It
// is a second draft-07 validator, independent of the Go one. Outside CI the test skips when it
// is missing; in CI it must be there.
func ajvBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BKCTL_AJV"); p != "" {
		return p
	}
	cache := os.Getenv("BKCTL_CACHE")
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(dir, "bkctl")
	}
	bin := filepath.Join(cache, "npm", "ajv-cli-5.0.0", "node_modules", ".bin", "ajv")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("ajv-cli is missing (%v): run make ajv", err)
		}
		t.Skipf("ajv-cli is not installed (make ajv installs it): %v", err)
	}
	return bin
}

// toJSON writes the YAML file src as JSON into dir, as the value an editor validates.
func toJSON(t *testing.T, dir, src string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return ""
	}
	out, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	dst := filepath.Join(dir, strings.TrimSuffix(filepath.Base(src), ".yaml")+".json")
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// ajv runs ajv-cli in strict draft-07 mode over files and returns each file's verdict.
func ajv(t *testing.T, files []string) map[string]string {
	t.Helper()
	args := []string{"validate", "--spec=draft7", "--strict=true", "--allow-union-types", "--all-errors", "-s", "builders.schema.json"}
	for _, f := range files {
		args = append(args, "-d", f)
	}
	out, _ := exec.Command(ajvBinary(t), args...).CombinedOutput() // exit 1 when a file is invalid
	verdict := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "strict mode") || strings.HasPrefix(line, "schema ") && strings.Contains(line, "invalid") {
			t.Fatalf("ajv refuses the schema:\n%s", out)
		}
		for _, f := range files {
			if rest, ok := strings.CutPrefix(line, f+" "); ok {
				verdict[f] = rest
			}
		}
	}
	if len(verdict) != len(files) {
		t.Fatalf("ajv gave %d verdicts for %d files:\n%s", len(verdict), len(files), out)
	}
	return verdict
}

// TestAjvDraft07: ajv, in strict draft-07 mode, accepts the schema, every example, and refuses
// each bad input of the classes the schema decides.
func TestAjvDraft07(t *testing.T) {
	dir := t.TempDir()
	examples, _ := filepath.Glob("../examples/*.yaml")
	var good []string
	for _, f := range examples {
		good = append(good, toJSON(t, dir, f))
	}
	for f, v := range ajv(t, good) {
		if v != "valid" {
			t.Errorf("ajv: %s %s", f, v)
		}
	}
	bad := filepath.Join(dir, "bad")
	if err := os.Mkdir(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	corpus, _ := filepath.Glob("../testdata/bad/*.yaml")
	var refused []string
	for _, f := range corpus {
		class, _, _ := strings.Cut(filepath.Base(f), "-")
		if class != "schema" && class != "type" && class != "unknown" || strings.Contains(f, "podtemplate") {
			continue
		}
		if j := toJSON(t, bad, f); j != "" {
			refused = append(refused, j)
		}
	}
	for f, v := range ajv(t, refused) {
		if v != "invalid" {
			t.Errorf("ajv: %s %s, want invalid", f, v)
		}
	}
	for i, c := range editorCases {
		f := filepath.Join(bad, "case-"+strconv.Itoa(i)+".yaml")
		if err := os.WriteFile(f, []byte(c.src), 0o644); err != nil {
			t.Fatal(err)
		}
		refused = append(refused, toJSON(t, bad, f))
	}
	if len(refused) < 50 {
		t.Errorf("only %d bad inputs checked", len(refused))
	}
}
