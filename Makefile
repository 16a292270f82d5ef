# headless-guard. `make` alone lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
BIN       := $(abspath bin)
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS   := -s -w -X github.com/headless-guard/headless-guard/internal/version.Version=$(VERSION) \
             -X github.com/headless-guard/headless-guard/internal/version.Commit=$(COMMIT) \
             -X github.com/headless-guard/headless-guard/internal/report.ToolVersion=$(VERSION)
# Each fuzz target runs this long in `make test`; longer runs: make fuzz FUZZTIME=10m.
FUZZTIME  ?= 10s
# Extra `headless-guard serve` flags for `make run`, e.g. ARGS="--mode=warn --inject".
ARGS      ?=

# kube-apiserver, etcd and kubectl (and the rest of a local cluster) built
# from pinned modules into bin/; sets and exports KUBEBUILDER_ASSETS.
include hack/tools.mk

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n\nTargets:\n"} /^[a-zA-Z_\/-]+:.*##/ { printf "  %-27s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/headless-guard
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/headless-guard ./cmd/headless-guard

.PHONY: run
run: build $(ENVTEST_DEPS) ## Run etcd, kube-apiserver and the webhook locally until Ctrl-C (kubeconfig: .local/kubeconfig)
	$(GO) run ./hack/run $(ARGS)

.PHONY: test
test: lint-vet unit fuzz-short ## Run every test (unit, CLI end-to-end, fuzz smoke)

.PHONY: unit
unit: build $(ENVTEST_DEPS) ## Run the Go tests (the integration tests start etcd and kube-apiserver from KUBEBUILDER_ASSETS)
	$(GO) test -count=1 ./...

# Each fuzz target on its own: `go test -fuzz` takes one target per package run.
FUZZ_TARGETS := ./internal/manifest:FuzzLoad ./rules:FuzzEvaluate ./internal/check:FuzzCheck
.PHONY: fuzz-short
fuzz-short: ## Run every fuzz target for FUZZTIME (default 10s each)
	@for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; name=$${t##*:}; \
	  echo "fuzz $$pkg $$name for $(FUZZTIME)"; \
	  $(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=100x $$pkg; \
	done

.PHONY: fuzz
fuzz: FUZZTIME = 10m
fuzz: fuzz-short ## Run every fuzz target for 10 minutes

.PHONY: lint-vet
lint-vet: ## gofmt and go vet
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "not gofmt-clean:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

.PHONY: lint
lint: lint-vet ## gofmt, go vet, and golangci-lint when installed
	@if command -v golangci-lint >/dev/null; then golangci-lint run ./...; else echo "golangci-lint not installed; gofmt and go vet passed"; fi

.PHONY: docs
docs: ## Regenerate docs/rules.md from the rule registry
	$(GO) run ./hack/gendocs docs/rules.md

.PHONY: bench
bench: bench-check ## Run every benchmark and print the figures

.PHONY: bench-check
bench-check: build ## Benchmark `check`: documents per second at 1k, 10k, 100k documents
	$(GO) test -run='^$$' -bench=BenchmarkCheck -benchmem -benchtime=3x ./internal/check/
	$(GO) run ./hack/benchcheck -binary $(BIN)/headless-guard

.PHONY: clean
clean: ## Remove build output
	rm -rf $(BIN) .local
