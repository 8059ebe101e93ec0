# testenv.mk: targets of the real local test environment (docs/testenv.md), included by the Makefile.
#
#   make testdeps      Debian packages + arm64 busybox (root; quiet when present)
#   make testbin       pinned test binaries into the user cache, linked as .testenv/bin
#   make testenv-up    start one environment in the background; prints export lines
#   make testenv-down  stop it, leaving no process or mount behind
#
# Integration tests start their own environment from TestMain; with BKCTL_TESTENV set (see
# `go run ./hack/testenv env`) they attach to the running one instead. test/faults, which kills
# the API server, always starts its own (testenv.MainOwn).

TESTENV_HACK := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))

.PHONY: testdeps testbin testenv-up testenv-env testenv-down

testdeps:
	@$(TESTENV_HACK)/testdeps.sh

testbin:
	@$(TESTENV_HACK)/testbin.sh

testenv-up: testdeps testbin
	@go run ./$(TESTENV_HACK)/testenv up

testenv-env:
	@go run ./$(TESTENV_HACK)/testenv env

testenv-down:
	@go run ./$(TESTENV_HACK)/testenv down
