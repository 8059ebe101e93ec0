package buildrun_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bkctl/bkctl/internal/buildrun"
)

func lookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// The attest attributes are buildx's: default mode=min provenance unless turned off, shorthands
// canonicalized, the first value of a type winning.
func TestParseAttests(t *testing.T) {
	for name, tc := range map[string]struct {
		attest           []string
		provenance, sbom string
		env              map[string]string
		want             map[string]string
		err              string
	}{
		"default":           {want: map[string]string{"attest:provenance": "mode=min,inline-only=true"}},
		"env off":           {env: map[string]string{"BUILDX_NO_DEFAULT_ATTESTATIONS": "1"}, want: map[string]string{}},
		"env bad":           {env: map[string]string{"BUILDX_NO_DEFAULT_ATTESTATIONS": "maybe"}, err: "invalid BUILDX_NO_DEFAULT_ATTESTATIONS"},
		"provenance=false":  {provenance: "false", want: map[string]string{}},
		"provenance=true":   {provenance: "true", want: map[string]string{"attest:provenance": "type=provenance"}},
		"provenance mode":   {provenance: "mode=max", want: map[string]string{"attest:provenance": "type=provenance,mode=max"}},
		"sbom shorthand":    {sbom: "true", want: map[string]string{"attest:sbom": "type=sbom", "attest:provenance": "mode=min,inline-only=true"}},
		"attest first wins": {attest: []string{"type=sbom,generator=img", "type=sbom,disabled=true"}, provenance: "false", want: map[string]string{"attest:sbom": "type=sbom,generator=img"}},
		"attest no type":    {attest: []string{"mode=max"}, err: "attestation type not specified"},
		"attest not kv":     {attest: []string{"type=sbom,junk"}, err: "invalid value junk"},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := buildrun.ParseAttests(tc.attest, tc.provenance, tc.sbom, lookup(tc.env))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

// Annotations become BuildKit's exporter keys, per type and platform.
func TestParseAnnotations(t *testing.T) {
	got, err := buildrun.ParseAnnotations([]string{"a=1", "index,manifest:b=2", "manifest[linux/arm64]:c=3", "manifest-descriptor:d=4"})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for k, v := range got {
		keys[k.String()] = v
	}
	want := map[string]string{
		"annotation.a": "1", "annotation-index.b": "2", "annotation-manifest.b": "2",
		"annotation-manifest[linux/arm64].c": "3", "annotation-manifest-descriptor.d": "4",
	}
	if d := cmp.Diff(want, keys); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	for _, bad := range []string{"novalue", "layer:a=1", "manifest[linux/amd64:a=1"} {
		if _, err := buildrun.ParseAnnotations([]string{bad}); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// The other buildx build flags parse into the frontend attributes BuildKit reads.
func TestBuildFlagsApply(t *testing.T) {
	f := buildrun.BuildFlags{
		Allow: []string{"network.host"}, Network: "host", AddHost: []string{"db:10.0.0.5", "v6=[::1]"},
		ShmSize: "128m", Ulimit: []string{"nofile=1024:2048"}, NoCacheFilter: []string{"build"},
		CgroupParent: "p", Pull: true, Check: true, Provenance: "false",
	}
	o := buildrun.DefaultOptions()
	if err := f.Apply(&o, lookup(map[string]string{"SOURCE_DATE_EPOCH": "1700000000"})); err != nil {
		t.Fatal(err)
	}
	got := map[string]any{"allow": o.Allow, "net": o.NetworkMode, "hosts": o.ExtraHosts, "shm": o.ShmSize,
		"ulimit": o.Ulimits, "ncf": o.NoCacheFilter, "cg": o.CgroupParent, "pull": o.Pull,
		"call": *o.CallFunc, "args": o.BuildArgs, "attests": o.Attests}
	want := map[string]any{"allow": []string{"network.host"}, "net": "host", "hosts": "db=10.0.0.5,v6=::1",
		"shm": int64(128 << 20), "ulimit": "nofile=1024:2048", "ncf": []string{"build"}, "cg": "p", "pull": true,
		"call": buildrun.CallFunc{Name: "lint"}, "args": map[string]string{"SOURCE_DATE_EPOCH": "1700000000"},
		"attests": map[string]string{}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	for name, bad := range map[string]buildrun.BuildFlags{
		"allow":    {Allow: []string{"network.everything"}},
		"network":  {Network: "bridge"},
		"add-host": {AddHost: []string{"db:notanip"}},
		"gateway":  {AddHost: []string{"db:host-gateway"}},
		"shm":      {ShmSize: "lots"},
		"ulimit":   {Ulimit: []string{"nofile"}},
		"call":     {Call: "lint,colour=red"},
	} {
		o := buildrun.DefaultOptions()
		if err := bad.Apply(&o, lookup(nil)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	o = buildrun.DefaultOptions()
	o.NoCache = true
	if err := (buildrun.BuildFlags{NoCacheFilter: []string{"x"}}).Apply(&o, lookup(nil)); err == nil {
		t.Error("--no-cache with --no-cache-filter: no error")
	}
}

// --ulimit keeps the last value of each name, sorted by name, as buildx's option does.
func TestParseUlimits(t *testing.T) {
	for name, tc := range map[string]struct {
		in   []string
		want string
		err  string
	}{
		"none":         {},
		"one":          {in: []string{"nofile=1024:2048"}, want: "nofile=1024:2048"},
		"soft only":    {in: []string{"nofile=4096"}, want: "nofile=4096:4096"},
		"sorted":       {in: []string{"nproc=7:8", "core=0", "nofile=1:2"}, want: "core=0:0,nofile=1:2,nproc=7:8"},
		"last wins":    {in: []string{"nofile=1000:2000", "nproc=7:8", "nofile=1357:2468"}, want: "nofile=1357:2468,nproc=7:8"},
		"no value":     {in: []string{"nofile"}, err: `--ulimit "nofile"`},
		"unknown name": {in: []string{"files=1"}, err: `--ulimit "files=1"`},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := buildrun.ParseUlimits(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %q, %v; want an error with %q", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

// -o type=cacheonly parses; a remote context is recognized as buildx recognizes it.
func TestCacheOnlyAndRemoteContexts(t *testing.T) {
	outs, err := buildrun.ParseOutputs([]string{"type=cacheonly"}, false)
	if err != nil || len(outs) != 1 || outs[0].Type != buildrun.TypeCacheOnly {
		t.Fatalf("got %v, %v", outs, err)
	}
	for c, want := range map[string]bool{
		"https://example.com/app.tar.gz": true, "git@github.com:a/b.git": true,
		"https://github.com/a/b.git#main": true, "git://host/repo.git": true, ".": false, "dir/sub": false, "-": false,
	} {
		if got := buildrun.IsRemoteContext(c); got != want {
			t.Errorf("IsRemoteContext(%q) = %v, want %v", c, got, want)
		}
	}
}
