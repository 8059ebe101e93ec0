package inspect

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func sample() []Builder {
	last := t0.Add(-90 * time.Second)
	return []Builder{{Name: "kube", Namespace: "buildkit", Nodes: []Node{
		{Name: "amd", Kind: "Deployment", Status: StatusStarting, DesiredReplicas: 2, ReadyReplicas: 1, Platforms: []string{"linux/amd64"},
			Pods: []Pod{
				{Name: "amd-1", Host: "n1", Phase: "Running", Ready: true, ReadyContainers: 1, Containers: 1, Restarts: 2, CreatedAt: t0.Add(-2 * time.Hour),
					Daemon: &Daemon{BuildkitVersion: "v0.34.2", Platforms: []string{"linux/amd64", "linux/amd64/v2", "linux/386"},
						Cache: &Cache{Records: 3, Size: 123456789, Reclaimable: 1000}, History: &History{Builds: 4, LastBuild: &last}}},
				{Name: "amd-2", Host: "n2", Phase: "Running", Containers: 1, CreatedAt: t0.Add(-time.Minute),
					Error: "list workers: no answer within 5s"},
			}},
		{Name: "arm", Status: StatusNotFound, Platforms: []string{"linux/arm64"}, Pods: []Pod{}},
	}}}
}

func TestWriteList(t *testing.T) {
	for name, tt := range map[string]struct {
		trunc bool
		want  string
	}{
		"truncated": {true, `NAME/NODE/POD   NAMESPACE/WORKLOAD/HOST   STATUS      READY   BUILDKIT   PLATFORMS
kube            buildkit
 \_ amd         Deployment/amd            starting    1/2     v0.34.2    linux/amd64* (+2), linux/386
     \_ amd-1   n1                        running     1/1     v0.34.2    linux/amd64* (+2), linux/386
     \_ amd-2   n2                        error       0/1                list workers: no answer within 5s
 \_ arm                                   not found                      linux/arm64*
`},
		"not truncated": {false, `NAME/NODE/POD   NAMESPACE/WORKLOAD/HOST   STATUS      READY   BUILDKIT   PLATFORMS
kube            buildkit
 \_ amd         Deployment/amd            starting    1/2     v0.34.2    linux/amd64*, linux/amd64/v2, linux/386
     \_ amd-1   n1                        running     1/1     v0.34.2    linux/amd64*, linux/amd64/v2, linux/386
     \_ amd-2   n2                        error       0/1                list workers: no answer within 5s
 \_ arm                                   not found                      linux/arm64*
`},
	} {
		t.Run(name, func(t *testing.T) {
			var b strings.Builder
			if err := WriteList(&b, sample(), tt.trunc); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, b.String()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriteStatus(t *testing.T) {
	var b strings.Builder
	if err := WriteStatus(&b, sample(), t0); err != nil {
		t.Fatal(err)
	}
	want := `BUILDER   NODE   POD     HOST   READY   RESTARTS   AGE    BUILDKIT   CACHE     RECLAIMABLE   BUILDS   LAST BUILD
kube      amd    amd-1   n1     1/1     2          120m   v0.34.2    123.5MB   1kB           4        90s ago
kube      amd    amd-2   n2     0/1     0          60s                                                error: list workers: no answer within 5s
kube      arm    -                                                                                    not found, no pods
`
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestTruncate(t *testing.T) {
	tests := map[string]struct {
		in   []string
		want string
	}{
		"one":                 {[]string{"linux/amd64*"}, "linux/amd64*"},
		"variants counted":    {[]string{"linux/amd64*", "linux/amd64/v2", "linux/amd64/v3", "linux/arm64"}, "linux/amd64* (+3), linux/arm64"},
		"declared group kept": {[]string{"linux/arm64*", "linux/amd64", "linux/amd64/v2"}, "linux/arm64*, linux/amd64 (+2)"},
		"more than four groups": {[]string{"linux/amd64*", "linux/arm64", "linux/riscv64", "linux/ppc64le", "linux/s390x", "linux/386"},
			"linux/amd64*, linux/arm64, linux/riscv64, linux/ppc64le, (2 more)"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if got := truncate(tt.in, 4); got != tt.want {
				t.Errorf("truncate(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestStarredNormalizesAndPutsDeclaredFirst(t *testing.T) {
	got := starred([]string{"linux/arm64/v8"}, []string{"linux/amd64", "linux/arm64", "linux/amd64"})
	if diff := cmp.Diff([]string{"linux/arm64*", "linux/amd64"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
