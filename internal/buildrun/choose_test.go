package buildrun_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/bkctl/bkctl/internal/buildrun"
)

// Removing one pod moves exactly the keys that pod had; every other key stays where it was.
func TestChooseStickyRemovingAPodMovesOnlyItsKeys(t *testing.T) {
	pods := []string{"kube0-5d9f-a", "kube0-5d9f-b", "kube0-5d9f-c", "kube0-5d9f-d", "kube0-5d9f-e"}
	for removed := range pods {
		rest := slices.Delete(slices.Clone(pods), removed, removed+1)
		moved, had := 0, 0
		for k := range 2000 {
			key := fmt.Sprintf("/home/ci/src/project-%d", k)
			before, err := buildrun.Choose(pods, "sticky", key, nil)
			if err != nil {
				t.Fatal(err)
			}
			after, err := buildrun.Choose(rest, "sticky", key, nil)
			if err != nil {
				t.Fatal(err)
			}
			if before == pods[removed] {
				had++
				continue
			}
			if after != before {
				moved++
			}
		}
		if moved != 0 {
			t.Errorf("removing %s moved %d keys of other pods", pods[removed], moved)
		}
		if had == 0 {
			t.Errorf("%s had no keys of 2000: the ring does not spread", pods[removed])
		}
	}
}

func TestChooseStickyIsStableAndAvoids(t *testing.T) {
	pods := []string{"a", "b", "c"}
	first, _ := buildrun.Choose(pods, "sticky", "/ctx", nil)
	for range 10 {
		if got, _ := buildrun.Choose([]string{"c", "a", "b"}, "sticky", "/ctx", nil); got != first {
			t.Fatalf("same key chose %s, then %s", first, got)
		}
	}
	if got, _ := buildrun.Choose(pods, "sticky", "/ctx", map[string]bool{first: true}); got == first {
		t.Fatalf("chose %s although it is avoided", got)
	}
	if _, err := buildrun.Choose(pods, "random", "", map[string]bool{"a": true, "b": true, "c": true}); !errors.Is(err, buildrun.ErrNoDaemon) {
		t.Fatalf("every pod avoided: got %v, want ErrNoDaemon", err)
	}
}

func TestChooseRandomSpreads(t *testing.T) {
	seen := map[string]int{}
	for range 300 {
		d, err := buildrun.Choose([]string{"a", "b", "c"}, "random", "/ctx", nil)
		if err != nil {
			t.Fatal(err)
		}
		seen[d]++
	}
	if len(seen) != 3 {
		t.Fatalf("300 random choices over 3 pods hit %v", seen)
	}
}

func TestParseOutputs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      []string
		push    bool
		want    []buildrun.Output
		wantErr error
	}{
		{name: "registry", in: []string{"type=registry,name=r/x:1"}, want: []buildrun.Output{{Type: "image", Attrs: map[string]string{"name": "r/x:1", "push": "true"}}}},
		{name: "push flag", push: true, want: []buildrun.Output{{Type: "image", Attrs: map[string]string{"push": "true"}}}},
		{name: "bare dir", in: []string{"out"}, want: []buildrun.Output{{Type: "local", Attrs: map[string]string{"dest": "out"}}}},
		{name: "docker", in: []string{"type=docker"}, wantErr: buildrun.ErrNoLoad},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := buildrun.ParseOutputs(tc.in, tc.push)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
