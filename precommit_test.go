package main

import (
	"os"
	"regexp"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestPreCommitHookFiles: the pre-commit hook's files pattern (a Python regular expression that
// pre-commit searches each staged path with) picks builders.yaml and *.builders.yaml at any
// depth, as validate --help suggests, and nothing else. The pattern keeps to what Go's regexp
// and Python's re read alike.
func TestPreCommitHookFiles(t *testing.T) {
	data, err := os.ReadFile(".pre-commit-hooks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var hooks []struct {
		ID    string `yaml:"id"`
		Files string `yaml:"files"`
	}
	if err := yaml.Unmarshal(data, &hooks); err != nil {
		t.Fatal(err)
	}
	if len(hooks) != 1 || hooks[0].ID != "bkctl-validate" {
		t.Fatalf("hooks %+v, want one bkctl-validate", hooks)
	}
	re := regexp.MustCompile(hooks[0].Files)
	for path, want := range map[string]bool{
		"builders.yaml":               true,
		"builders.yml":                true,
		"ci/builders.yaml":            true,
		"ci/prod.builders.yaml":       true,
		"deploy/eu.prod.builders.yml": true,
		"prod.builders.yaml":          true,
		"mybuilders.yaml":             false,
		"ci/prod-builders.yaml":       false,
		"builders.yaml.bak":           false,
		"builders.json":               false,
		"builders.yaml/notes.txt":     false,
		"deploy/rbac.yaml":            false,
		"examples/multi-arch.yaml":    false,
	} {
		if got := re.MatchString(path); got != want {
			t.Errorf("files %q matches %s: %v, want %v", hooks[0].Files, path, got, want)
		}
	}
}
