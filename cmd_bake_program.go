package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// bakeProgram is the name of the program that reads bake files with buildx's bake package.
const bakeProgram = "bkctl-bake"

// findBakeProgram finds bkctl-bake next to the running bkctl, else on PATH.
func findBakeProgram() (string, error) {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), bakeProgram)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if p, err := exec.LookPath(bakeProgram); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("bkctl bake reads bake files with the %s program, which is neither next to bkctl nor on PATH (hint: make build puts both in bin/; or go install github.com/bkctl/bkctl/cmd/%s@VERSION)", bakeProgram, bakeProgram)
}

// runBakeProgram runs bkctl-bake with args in the working directory, with bkctl's stdin (for
// -f -) and environment (the bake file's variables), and returns what it wrote. Its error
// message becomes bkctl's.
func runBakeProgram(ctx context.Context, s streams, args []string) ([]byte, error) {
	path, err := findBakeProgram()
	if err != nil {
		return nil, usageErr(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s.In, &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = exit.String()
		}
		return nil, usageErr(fmt.Errorf("bake file: %s", msg))
	}
	if err != nil {
		return nil, usageErr(fmt.Errorf("run %s: %w", path, err))
	}
	return stdout.Bytes(), nil
}
