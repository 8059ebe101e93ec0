package buildrun_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bkctl/bkctl/internal/buildrun"
)

// --resource parses sizes with docker's units and integers for the cpu keys; the last value of
// a key wins, 0 unsets it, and the errors name the value.
func TestParseResources(t *testing.T) {
	for name, tc := range map[string]struct {
		in   []string
		want buildrun.Resources
		err  string
	}{
		"none": {},
		"all": {in: []string{"memory=64m", "memory-swap=128m", "cpu-shares=512", "cpu-period=100000",
			"cpu-quota=50000", "cpuset-cpus=0-1", "cpuset-mems=0"},
			want: buildrun.Resources{Memory: 64 << 20, MemorySwap: 128 << 20, CPUShares: 512, CPUPeriod: 100000,
				CPUQuota: 50000, CpusetCPUs: "0-1", CpusetMems: "0"}},
		"units":           {in: []string{"memory=2g", "memory-swap=3GiB"}, want: buildrun.Resources{Memory: 2 << 30, MemorySwap: 3 << 30}},
		"bytes":           {in: []string{"memory=6291456"}, want: buildrun.Resources{Memory: 6291456}},
		"swap unlimited":  {in: []string{"memory-swap=-1"}, want: buildrun.Resources{MemorySwap: -1}},
		"spaces":          {in: []string{" memory = 1g "}, want: buildrun.Resources{Memory: 1 << 30}},
		"last wins":       {in: []string{"cpu-shares=100", "cpu-shares=200"}, want: buildrun.Resources{CPUShares: 200}},
		"zero unsets":     {in: []string{"cpu-quota=20000", "cpu-quota=0"}},
		"quota no limit":  {in: []string{"cpu-quota=20000", "cpu-quota=-1"}},
		"negative quota":  {in: []string{"cpu-quota=-2"}, err: `--resource "cpu-quota=-2": must be positive`},
		"cpuset list":     {in: []string{"cpuset-cpus=0,1"}, want: buildrun.Resources{CpusetCPUs: "0,1"}},
		"no value":        {in: []string{"memory"}, err: `--resource "memory": want KEY=VALUE`},
		"unknown key":     {in: []string{"disk=1g"}, err: `--resource "disk=1g": unknown key "disk"`},
		"bad size":        {in: []string{"memory=lots"}, err: `--resource "memory=lots": invalid size`},
		"negative size":   {in: []string{"memory=-5m"}, err: `--resource "memory=-5m"`},
		"bad swap":        {in: []string{"memory-swap=-2"}, err: `--resource "memory-swap=-2"`},
		"not an integer":  {in: []string{"cpu-shares=1.5"}, err: `--resource "cpu-shares=1.5": not an integer`},
		"negative cpu":    {in: []string{"cpu-shares=-1"}, err: `--resource "cpu-shares=-1": must be positive`},
		"period too low":  {in: []string{"cpu-period=999"}, err: `--resource "cpu-period=999": must be between 1000 and 1000000`},
		"period too high": {in: []string{"cpu-period=1000001"}, err: `--resource "cpu-period=1000001": must be between`},
		"quota too low":   {in: []string{"cpu-quota=10"}, err: `--resource "cpu-quota=10": must be at least 1000`},
		"bad cpuset":      {in: []string{"cpuset-cpus=1-0"}, err: `--resource "cpuset-cpus=1-0": invalid cpuset range`},
		"bad mems":        {in: []string{"cpuset-mems=a"}, err: `--resource "cpuset-mems=a": invalid cpuset element`},
		"swap < memory":   {in: []string{"memory=1g", "memory-swap=512m"}, err: "--resource memory-swap=512m: less than memory=1g"},
		"swap alone":      {in: []string{"memory-swap=1g"}, err: "--resource memory-swap=1g: memory-swap is memory plus swap and needs memory too"},
		"swap = memory":   {in: []string{"memory=1g", "memory-swap=1g"}, want: buildrun.Resources{Memory: 1 << 30, MemorySwap: 1 << 30}},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := buildrun.ParseResources(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %+v, %v; want an error with %q", got, err, tc.err)
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

// The attributes are those BuildKit's dockerfile frontend reads, only for the keys that are set.
func TestResourcesAttrs(t *testing.T) {
	for name, tc := range map[string]struct {
		in   buildrun.Resources
		want map[string]string
	}{
		"none": {want: map[string]string{}},
		"all": {in: buildrun.Resources{Memory: 1 << 26, MemorySwap: -1, CPUShares: 512, CPUPeriod: 100000,
			CPUQuota: 50000, CpusetCPUs: "0-1", CpusetMems: "0"},
			want: map[string]string{"memory": "67108864", "memswap": "-1", "cpushares": "512", "cpuperiod": "100000",
				"cpuquota": "50000", "cpusetcpus": "0-1", "cpusetmems": "0"}},
		"memory only": {in: buildrun.Resources{Memory: 1 << 30}, want: map[string]string{"memory": "1073741824"}},
	} {
		t.Run(name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, tc.in.Attrs()); d != "" {
				t.Errorf("(-want +got)\n%s", d)
			}
		})
	}
}

// The older per-key flags become --resource values in buildx's order, before those of
// --resource, so that --resource wins; a bad value names its flag.
func TestLegacyResources(t *testing.T) {
	got, err := buildrun.LegacyResources{Memory: "64m", MemorySwap: "-1", CPUShares: "512", CPUPeriod: "100000",
		CPUQuota: "50000", CpusetCPUs: "0", CpusetMems: "0"}.Entries()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"memory=64m", "memory-swap=-1", "cpu-shares=512", "cpu-period=100000", "cpu-quota=50000",
		"cpuset-cpus=0", "cpuset-mems=0"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	if got, err := (buildrun.LegacyResources{}).Entries(); err != nil || got != nil {
		t.Errorf("no flags: %q, %v; want none", got, err)
	}
	r, err := buildrun.ParseResources(append([]string{"memory=64m", "cpu-shares=512"}, "memory=128m"))
	if err != nil || r.Memory != 128<<20 || r.CPUShares != 512 {
		t.Errorf("--memory 64m --cpu-shares 512 --resource memory=128m: %+v, %v; want memory 128m, cpu-shares 512", r, err)
	}
	for flag, l := range map[string]buildrun.LegacyResources{
		`--memory "1q"`:       {Memory: "1q"},
		`--memory-swap "x"`:   {MemorySwap: "x"},
		`--cpu-shares "-3"`:   {CPUShares: "-3"},
		`--cpu-period "10"`:   {CPUPeriod: "10"},
		`--cpu-quota "a"`:     {CPUQuota: "a"},
		`--cpuset-cpus "0-"`:  {CpusetCPUs: "0-"},
		`--cpuset-mems "0,-"`: {CpusetMems: "0,-"},
	} {
		if _, err := l.Entries(); err == nil || !strings.HasPrefix(err.Error(), flag+": ") {
			t.Errorf("%+v: %v; want an error naming %s", l, err, flag)
		}
	}
}

// BuildFlags.Resource reaches the options; a bad value fails Apply.
func TestBuildFlagsResource(t *testing.T) {
	o := buildrun.DefaultOptions()
	if err := (buildrun.BuildFlags{Resource: []string{"memory=32m", "cpu-quota=20000"}}).Apply(&o, lookup(nil)); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(buildrun.Resources{Memory: 32 << 20, CPUQuota: 20000}, o.Resources); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	o = buildrun.DefaultOptions()
	if err := (buildrun.BuildFlags{Resource: []string{"cpu-shares=-1"}}).Apply(&o, lookup(nil)); err == nil {
		t.Error("cpu-shares=-1: no error")
	}
}
