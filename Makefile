# bkctl — see README.md. `make demo` runs the main job on a local real cluster; `make test` runs the tests.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
BIN := bin/bkctl
GOTEST_FLAGS ?= -count=1 -timeout=30m

.PHONY: all build test test-node bench-node test-unit ajv fuzz fuzz-long vet fmt-check bench bench-validate bench-run demo clean

all: build

build:
	$(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN) .
	$(GO) build -trimpath -ldflags "-s -w" -o $(dir $(BIN))bkctl-bake ./cmd/bkctl-bake

## test: everything but the real-node tier, against real processes (installs Debian test packages and builds the pinned test binaries first)
test: testdeps testbin ajv
	$(GO) test $(GOTEST_FLAGS) $$($(GO) list ./... | grep -v '/test/node$$')

## test-node: the end-to-end tier on a real node (kubelet, containerd, runc, CNI); root only, see README "Real-node tier"
test-node: testdeps-node testbin
	$(GO) test $(GOTEST_FLAGS) -v ./test/node

## bench-node: bkctl apply vs buildx create --bootstrap on the real node (cold), and native vs overlayfs in the pod
bench-node: testdeps-node testbin
	$(GO) test -count=1 -timeout=30m -run='^$$' -bench='Bootstrap|Snapshotter' -benchtime=1x ./test/node

## ajv: the draft-07 validator from npm that the schema test also runs (cached outside the clone)
ajv:
	@./hack/ajv.sh >/dev/null

## test-unit: every test that needs no test environment (no root, no cluster): the pure packages,
## and with -short the pure tests of the packages whose environment starts lazily
test-unit:
	$(GO) test $(GOTEST_FLAGS) -short ./schema/ ./internal/spec/ ./internal/render/ ./internal/diff/ ./internal/buildxstore/ ./internal/inspect/ . ./internal/buildrun/ ./internal/podexec/

FUZZTIME ?= 30s
FUZZFLAGS ?=
## fuzz: fuzz the builders.yaml loader (and render, for what it accepts); seeds include testdata/bad
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzParse -fuzztime=$(FUZZTIME) $(FUZZFLAGS) ./internal/spec

## fuzz-long: the same for 10 minutes (on a shared machine: make fuzz-long FUZZFLAGS=-parallel=1)
fuzz-long: FUZZTIME = 10m
fuzz-long: fuzz

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^hack/tools/')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

bench: bench-validate
	$(GO) test -run='^$$' -bench=. -benchmem ./internal/spec

## bench-validate: the binary on a generated corpus of 1,000 builders files, and on one small file
bench-validate: build
	./hack/bench-validate.sh $(BIN)

demo: build testdeps testbin
	./hack/demo.sh

clean:
	rm -rf bin

-include hack/testenv.mk

## bench-plan: bkctl plan / no-op apply vs kubectl diff / apply --server-side on 50 builders × 2 nodes
.PHONY: bench-plan
bench-plan: build testbin
	$(GO) run ./hack/benchplan -bkctl $(BIN)

## bench-run: bkctl run through pod exec vs a direct socket (100 MB context), two nodes in parallel vs in sequence, and bkctl run/bake vs the real buildx build/bake
bench-run: testbin
	$(GO) test -count=1 -timeout=20m -run='^$$' -bench='Transport|ParallelNodes|VsBuildx' -benchtime=1x -v ./internal/buildrun

## bench-scale: plan / apply to ready / in-sync / no-op / image change at 100, 1,000 and 3,000 nodes vs kubectl, and one builder vs buildx create --bootstrap (BENCH_SCALE_FLAGS=-sizes=100,1000 for a quicker run)
.PHONY: bench-scale
BENCH_SCALE_FLAGS ?=
bench-scale: build testbin
	$(GO) run ./hack/benchscale -bkctl $(BIN) $(BENCH_SCALE_FLAGS)
