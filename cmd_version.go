package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = ""

type versionCmd struct {
	outputFlag
}

func (c *versionCmd) Help() string {
	return `Examples:
  bkctl version
  bkctl version -o json
  bkctl --version`
}

func (c *versionCmd) Run(s streams) error {
	v := versionInfo()
	if c.Output != "text" {
		return writeDoc(s, c.Output, "Version", v)
	}
	_, err := fmt.Fprintf(s.Out, "bkctl %s (%s, %s/%s)\n", v.Version, v.GoVersion, v.OS, v.Arch)
	return err
}

type buildInfo struct {
	Version   string `json:"version"`
	Commit    string `json:"commit,omitempty"`
	GoVersion string `json:"goVersion"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
}

func versionInfo() buildInfo {
	v := buildInfo{Version: version, GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				v.Commit = s.Value
			}
		}
	}
	if v.Version == "" {
		v.Version = "devel"
	}
	return v
}
