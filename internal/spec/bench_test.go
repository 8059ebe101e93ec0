package spec

import (
	"os"
	"testing"
)

func BenchmarkParseExample(b *testing.B) {
	data, err := os.ReadFile("../../examples/builders.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("../../examples/builders.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseInvalid(b *testing.B) {
	data := []byte(header + "  - name: kube\n    nodes: [{nodeselector: {a: b}, replicas: x, platforms: [linux/amd65]}]\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("b.yaml", data); err == nil {
			b.Fatal("want error")
		}
	}
}
