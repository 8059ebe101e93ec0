# testenv.mk: targets of the real local test environment (docs/testenv.md), included by the Makefile.
#
#   make testdeps      Debian packages + arm64 busybox (root; quiet when present)
#   make testbin       pinned test binaries into the user cache, linked as .testenv/bin
#   make testenv-up    start one environment in the background; prints export lines
#                      (NODE=real: on one real node instead of kwok)
#   make testenv-down  stop it, leaving no process or mount behind
#
# Integration tests start their own environment from TestMain; with BKCTL_TESTENV set (see
# `go run ./hack/testenv env`) they attach to the running one instead. test/faults, which kills
# the API server, always starts its own (testenv.MainOwn).

TESTENV_HACK := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))

.PHONY: testdeps testdeps-node testbin testenv-up testenv-env testenv-down

testdeps:
	@$(TESTENV_HACK)/testdeps.sh

## testdeps-node: testdeps plus containerd, CNI plugins and uidmap for the real-node tier
testdeps-node:
	@$(TESTENV_HACK)/testdeps.sh --node

testbin:
	@$(TESTENV_HACK)/testbin.sh

# NODE=real: one real node (kubelet, containerd, runc, CNI) instead of kwok; see README "Real-node tier"
testenv-up: testdeps testbin
	@if [ "$(NODE)" = real ]; then $(TESTENV_HACK)/testdeps.sh --node; fi
	@BKCTL_TESTENV_NODE=$(NODE) go run ./$(TESTENV_HACK)/testenv up

testenv-env:
	@go run ./$(TESTENV_HACK)/testenv env

testenv-down:
	@go run ./$(TESTENV_HACK)/testenv down
