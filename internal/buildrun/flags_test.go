package buildrun_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/moby/buildkit/client"

	"github.com/bkctl/bkctl/internal/buildrun"
)

// TestBuildCacheExportImportedOnAnotherDaemon exports the cache of a build on one pod and
// imports it on another, whose fresh daemon then takes the RUN step from the cache; a third
// fresh daemon without the import runs it.
func TestBuildCacheExportImportedOnAnotherDaemon(t *testing.T) {
	lazy.Require(t)
	ns := env.Namespace(t)
	b := applyBuilder(t, builderYAML(ns, "sticky", 3))
	keys, daemons := stickyKeys(t, b.Nodes[0], 3)
	tests := []struct {
		name     string
		to, from string
		push     bool
	}{
		{name: "registry mode=max", to: "type=registry,ref=" + env.Registry + "/" + ns + "/cache:x,mode=max",
			from: "type=registry,ref=" + env.Registry + "/" + ns + "/cache:x"},
		{name: "inline", to: "type=inline", push: true, from: env.Registry + "/" + ns + "/inline:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := "RUN echo " + ns + " " + tt.name + " > /marker && cat /hello.txt >> /marker"
			dir := contextDir(t, map[string]string{"Dockerfile": "FROM base\nCOPY hello.txt /\n" + run + "\n", "hello.txt": tt.name + "\n"})
			build := func(i int, to, from string) map[string]bool {
				t.Helper()
				var progress bytes.Buffer
				o := options(dir, &progress)
				o.ProgressMode, o.StickyKey = "rawjson", keys[i]
				var err error
				if o.CacheTo, err = buildrun.ParseCache(nonEmpty(to), true); err != nil {
					t.Fatal(err)
				}
				if o.CacheFrom, err = buildrun.ParseCache(nonEmpty(from), false); err != nil {
					t.Fatal(err)
				}
				if tt.push && to != "" {
					o.Tags = []string{env.Registry + "/" + ns + "/inline:1"}
					o.Outputs = []buildrun.Output{{Type: "image", Attrs: map[string]string{"push": "true", "registry.insecure": "true"}}}
				}
				res, err := buildrun.Build(context.Background(), b, o)
				if err != nil {
					t.Fatalf("build %d: %v\n%s", i+1, err, progress.String())
				}
				if res.Builds[0].Daemon != daemons[i] {
					t.Fatalf("build %d ran on %s, want %s", i+1, res.Builds[0].Daemon, daemons[i])
				}
				return steps(t, progress.String())
			}
			if cached, ok := build(0, tt.to, "")[run]; !ok || cached {
				t.Fatalf("exporting build on %s: %q completed %v, cached %v; want it run", daemons[0], run, ok, cached)
			}
			if cached, ok := build(1, "", tt.from)[run]; !ok || !cached {
				t.Errorf("build on %s with --cache-from %s: %q completed %v, cached %v; want it from the cache", daemons[1], tt.from, run, ok, cached)
			}
			if cached, ok := build(2, "", "")[run]; !ok || cached {
				t.Errorf("build on %s without --cache-from: %q completed %v, cached %v; want it run", daemons[2], run, ok, cached)
			}
		})
	}
}

func nonEmpty(v string) []string {
	if v == "" {
		return nil
	}
	return []string{v}
}

// stickyKeys returns n sticky keys that node's sticky choice sends to n different daemons,
// and those daemons.
func stickyKeys(t *testing.T, n buildrun.Node, count int) (keys, daemons []string) {
	t.Helper()
	all, err := n.Transport.Daemons(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := 0; len(keys) < count && i < 1000; i++ {
		key := "key-" + itoa(i%10) + itoa(i/10%10) + itoa(i/100)
		d, err := buildrun.Choose(all, "sticky", key, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !seen[d] {
			seen[d] = true
			keys, daemons = append(keys, key), append(daemons, d)
		}
	}
	if len(keys) < count {
		t.Fatalf("node %s: sticky keys reach %v of %v", n.Name, daemons, all)
	}
	return keys, daemons
}

// steps returns the Dockerfile steps that completed in rawjson progress, by instruction
// ("RUN …", without the "[2/3] " prefix), each with whether it came from the cache.
func steps(t *testing.T, rawjson string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	dec := json.NewDecoder(strings.NewReader(rawjson))
	for dec.More() {
		var st client.SolveStatus
		if err := dec.Decode(&st); err != nil {
			t.Fatalf("rawjson progress: %v\n%s", err, rawjson)
		}
		for _, v := range st.Vertexes {
			if v.Completed == nil || !strings.HasPrefix(v.Name, "[") {
				continue
			}
			_, instr, _ := strings.Cut(v.Name, "] ")
			out[instr] = out[instr] || v.Cached
		}
	}
	return out
}
