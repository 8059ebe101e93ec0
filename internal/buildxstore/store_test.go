package buildxstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bkctl/bkctl/internal/spec"
)

func TestDir(t *testing.T) {
	cases := map[string]struct {
		env  map[string]string
		want string
	}{
		"BUILDX_CONFIG wins":     {map[string]string{"BUILDX_CONFIG": "/bx", "DOCKER_CONFIG": "/dc", "HOME": "/h"}, "/bx"},
		"DOCKER_CONFIG/buildx":   {map[string]string{"DOCKER_CONFIG": "/dc", "HOME": "/h"}, "/dc/buildx"},
		"~/.docker/buildx":       {map[string]string{"HOME": "/h"}, "/h/.docker/buildx"},
		"empty values are unset": {map[string]string{"BUILDX_CONFIG": "", "HOME": "/h"}, "/h/.docker/buildx"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := Dir(func(k string) string { return tc.env[k] })
			if err != nil || got != tc.want {
				t.Errorf("Dir = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := Dir(func(string) string { return "" }); err == nil {
		t.Error("Dir without any variable: want an error")
	}
}

// loadString parses a builders file from a string.
func loadString(t *testing.T, data string) *spec.File {
	t.Helper()
	res, err := spec.Parse("builders.yaml", []byte(data))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return res.File
}

const twoBuilders = `apiVersion: bkctl/v1alpha1
kind: Builders
metadata: {name: ci, namespace: buildkit}
builders:
  - name: kube
    nodes: [{platforms: [linux/amd64]}]
  - name: other
    nodes: [{name: o-amd64, platforms: [linux/amd64], replicas: 2}]
`

func TestWriteBuildersIdempotent(t *testing.T) {
	dir := t.TempDir()
	f := loadString(t, twoBuilders)
	clock := testNow
	opts := WriteOptions{Now: func() time.Time { return clock }}
	ctx := context.Background()

	got, err := WriteBuilders(ctx, dir, f, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := []Written{
		{Builder: "kube", Path: filepath.Join(dir, "instances", "kube"), Action: ActionCreated, Nodes: []string{"kube0"}},
		{Builder: "other", Path: filepath.Join(dir, "instances", "other"), Action: ActionCreated, Nodes: []string{"o-amd64"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("first write (-want +got):\n%s", diff)
	}
	for _, p := range []string{"instances/kube", "activity/kube", "instances/other", ".lock"} {
		fi, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600 as buildx", p, fi.Mode().Perm())
		}
	}
	for _, d := range []string{"instances", "activity", "defaults"} {
		if fi, err := os.Stat(filepath.Join(dir, d)); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, %v; want a 0700 directory", d, fi, err)
		}
	}
	activity, _ := os.ReadFile(filepath.Join(dir, "activity", "kube"))
	if string(activity) != "2026-01-02T03:04:05Z" {
		t.Errorf("activity = %q", activity)
	}

	clock = clock.Add(time.Hour)
	got, err = WriteBuilders(ctx, dir, f, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range got {
		if w.Action != ActionUnchanged {
			t.Errorf("second write of %s: %s, want unchanged", w.Builder, w.Action)
		}
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "activity", "kube")); string(again) != string(activity) {
		t.Errorf("an unchanged write touched the activity: %q", again)
	}

	f.Builders[0].Nodes[0].Replicas = 4
	opts.Builder = "kube"
	got, err = WriteBuilders(ctx, dir, f, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Action != ActionUpdated {
		t.Errorf("changed builder: %+v, want kube updated only", got)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "activity", "kube")); string(again) != "2026-01-02T04:04:05Z" {
		t.Errorf("activity after update = %q", again)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "instances"))
	if len(entries) != 2 {
		t.Errorf("instances: %v, want kube and other (no temporary files)", entries)
	}

	opts.Builder = "nope"
	if _, err := WriteBuilders(ctx, dir, f, opts); err == nil || !strings.Contains(err.Error(), `has no builder "nope"`) {
		t.Errorf("unknown builder: %v", err)
	}
}

func TestWriteBuildersRefusesOtherDriver(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(&NodeGroup{Name: "kube", Driver: "docker-container", Nodes: []Node{{Name: "kube0"}}}, testNow); err != nil {
		t.Fatal(err)
	}
	_, err = WriteBuilders(context.Background(), dir, loadString(t, twoBuilders), DefaultWriteOptions())
	if err == nil || !strings.Contains(err.Error(), `buildx builder "kube" exists with the docker-container driver`) {
		t.Errorf("got %v", err)
	}
	ng, _ := s.Get("kube")
	if ng.Driver != "docker-container" {
		t.Errorf("the other driver's instance was replaced: %+v", ng)
	}
}

// TestLockExcludesBuildx holds the lock as buildx does (flock on .lock) and checks that Lock
// waits for it, and gives up when its context ends.
func TestLockExcludesBuildx(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	held, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := syscall.Flock(int(held.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := s.Lock(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock while buildx holds it: %v, want a deadline error", err)
	}

	acquired := make(chan error, 1)
	go func() {
		release, err := s.Lock(context.Background())
		if err == nil {
			release()
		}
		acquired <- err
	}()
	select {
	case err := <-acquired:
		t.Fatalf("Lock returned (%v) while buildx holds the lock", err)
	case <-time.After(100 * time.Millisecond):
	}
	if err := syscall.Flock(int(held.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	if err := <-acquired; err != nil {
		t.Fatalf("Lock after buildx released it: %v", err)
	}
}

func TestReadWithoutStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "none")
	if _, err := Read(context.Background(), dir, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("Read of a missing dir: %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("Read created %s", dir)
	}
}

func TestListReportsBrokenInstance(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Save(&NodeGroup{Name: "good", Driver: DriverKubernetes}, testNow); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "instances", "bad"), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	groups, err := s.List()
	if len(groups) != 1 || groups[0].Name != "good" || err == nil || !strings.Contains(err.Error(), `read buildx builder "bad"`) {
		t.Errorf("List = %v, %v; want good and an error naming bad", groups, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "instances", "bad")); err != nil {
		t.Errorf("List removed the broken instance: %v", err)
	}
}
