// Command sbomgen is a deliberately minimal SBOM generator for BuildKit's scanner protocol, used
// by the tests of `bkctl run --sbom=generator=IMAGE`: the real scanners cannot be pulled on the
// test machines. BuildKit runs the generator image's entrypoint with the root file system to scan
// mounted read-only at $BUILDKIT_SCAN_SOURCE and collects every file it writes to
// $BUILDKIT_SCAN_DESTINATION as one in-toto statement. This one lists the regular files of the
// scanned root with their SHA-256 in an SPDX 2.3 document; it knows no packages, ignores
// $BUILDKIT_SCAN_SOURCE_EXTRAS and is not an SBOM anyone should ship.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Creator names this generator in the document's creation info, so that a test can tell its
// output from anything else.
const Creator = "Tool: bkctl-test-sbomgen"

type checksum struct {
	Algorithm string `json:"algorithm"`
	Value     string `json:"checksumValue"`
}

type file struct {
	Name      string     `json:"fileName"`
	ID        string     `json:"SPDXID"`
	Checksums []checksum `json:"checksums"`
}

type document struct {
	Version      string `json:"spdxVersion"`
	License      string `json:"dataLicense"`
	ID           string `json:"SPDXID"`
	Name         string `json:"name"`
	Namespace    string `json:"documentNamespace"`
	CreationInfo struct {
		Created  string   `json:"created"`
		Creators []string `json:"creators"`
	} `json:"creationInfo"`
	Files []file `json:"files"`
}

type statement struct {
	Type          string   `json:"_type"`
	PredicateType string   `json:"predicateType"`
	Subject       []any    `json:"subject"` // empty: BuildKit fills in the scanned image
	Predicate     document `json:"predicate"`
}

func main() {
	if err := run(os.Getenv("BUILDKIT_SCAN_SOURCE"), os.Getenv("BUILDKIT_SCAN_DESTINATION")); err != nil {
		fmt.Fprintln(os.Stderr, "sbomgen:", err)
		os.Exit(1)
	}
}

func run(src, dst string) error {
	if src == "" || dst == "" {
		return fmt.Errorf("BUILDKIT_SCAN_SOURCE and BUILDKIT_SCAN_DESTINATION must be set")
	}
	doc := document{Version: "SPDX-2.3", License: "CC0-1.0", ID: "SPDXRef-DOCUMENT", Name: "scan",
		Namespace: "https://bkctl.invalid/sbomgen/" + time.Now().UTC().Format("20060102T150405.000000000")}
	doc.CreationInfo.Created = time.Now().UTC().Format(time.RFC3339)
	doc.CreationInfo.Creators = []string{Creator}
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		sum, err := sha256File(path)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		doc.Files = append(doc.Files, file{Name: "/" + filepath.ToSlash(rel),
			ID: fmt.Sprintf("SPDXRef-File-%d", len(doc.Files)), Checksums: []checksum{{"SHA256", sum}}})
		return nil
	})
	if err != nil {
		return fmt.Errorf("scan %s: %w", src, err)
	}
	st := statement{Type: "https://in-toto.io/Statement/v0.1", PredicateType: "https://spdx.dev/Document",
		Subject: []any{}, Predicate: doc}
	out, err := json.Marshal(st)
	if err != nil {
		return err
	}
	// "sbom.*" marks the statement as the scan of the build's result (the core SBOM)
	return os.WriteFile(filepath.Join(dst, "sbom.spdx.json"), out, 0o644)
}

func sha256File(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
