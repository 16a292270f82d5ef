# headless-guard. `make` alone lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

GO        ?= go
BIN       := $(abspath bin)
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse --short HEAD 2>/dev/null)
# One definition for make build, make release and the Dockerfile.
LDFLAGS   := $(shell sh hack/ldflags.sh '$(VERSION)' '$(COMMIT)')
# Each fuzz target runs this many inputs in `make test`: a count, not a
# duration, because Go 1.26's fuzz coordinator can fail a duration run with
# "context deadline exceeded" when a worker is mid-input at the deadline
# (go.dev/issue/75804, fixed in Go 1.27). Longer runs: make fuzz (10 minutes).
FUZZTIME  ?= 10000x
# Extra `headless-guard serve` flags for `make run`, e.g. ARGS="--mode=warn --inject".
ARGS      ?=
# Every Go command here, and those the tests run, builds as `make build`
# does (static, -trimpath), so that the dependencies are compiled once for
# the binary, go vet and every test binary, not once per set of flags.
CGO_ENABLED ?= 0
GOFLAGS     := $(strip -trimpath $(filter-out -trimpath,$(GOFLAGS)))
export CGO_ENABLED GOFLAGS

# kube-apiserver, etcd and kubectl (and the rest of a local cluster) built
# from pinned modules into bin/; sets and exports KUBEBUILDER_ASSETS.
include hack/tools.mk

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n\nTargets:\n"} /^[a-zA-Z0-9_\/-]+:.*##/ { printf "  %-27s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/headless-guard
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/headless-guard ./cmd/headless-guard

# The rest of a cluster for `run` and `e2e`: kube-controller-manager,
# kube-scheduler, kwok, its Stage files and CoreDNS; and helm (Helm 4) and
# helm3 (Helm 3), for the chart's tests. Like ENVTEST_DEPS: when
# KUBEBUILDER_ASSETS was set and holds one of them, it is used as is (the
# tests look there first); otherwise it is built into bin/.
CLUSTER_BINS := kube-controller-manager kube-scheduler kwok coredns kwok-stages helm helm3
CLUSTER_DEPS := $(ENVTEST_DEPS) $(foreach b,$(CLUSTER_BINS),$(if $(and $(if $(ENVTEST_DEPS),,set),$(wildcard $(KUBEBUILDER_ASSETS)/$(b))),,bin/$(b)))
# cert-manager's controllers and cainjector for the cert-manager mode's
# tests (hack/certmanager), from the main module's cert-manager pin.
bin/certmanager: go.mod go.sum hack/certmanager/main.go
	$(GO) build -ldflags '-s -w' -o $(BIN)/certmanager ./hack/certmanager

# Every package but test/e2e, which `e2e` runs on a cluster of its own,
# and test/node, which `e2e-node` runs on a real node.
UNIT_PKGS = $(shell $(GO) list ./... | grep -v -e '/test/e2e$$' -e '/test/node$$')
# How many test binaries `unit` runs at once. go test's default, GOMAXPROCS
# (2 here), would run the area packages under test/ two at a time, and
# each mostly waits on its own API server: run them all together. -p bounds
# go test's compiles too; by then make has built the binaries and go vet
# the dependencies, and what is left (the test packages, their links) is
# no slower eight at a time on two cores, and fits in memory.
UNIT_PARALLEL ?= 8

.PHONY: run
# A built binary, not `go run`: Ctrl-C reaches it and make together, and
# `go run` would then exit 1 and make print an error for a clean stop.
run: build $(CLUSTER_DEPS) ## Run a local cluster and the webhook until Ctrl-C (kubeconfig: .local/kubeconfig, DNS: 127.0.0.1:1053)
	@$(GO) build -o $(BIN)/headless-guard-run ./hack/run
	@$(BIN)/headless-guard-run $(ARGS)

.PHONY: test
# The control plane (CLUSTER_DEPS, minutes on a first run) is built in the
# background while gofmt and go vet run; then the tests run, and the fuzz
# smoke beside them at the lowest CPU priority: the cluster tests spend
# much of their time waiting on API servers, and the fuzz smoke takes the
# cores they leave idle instead of cores the tools' build would use. Warm,
# the background build has nothing to do. Logs: bin/.tools.log, bin/.fuzz.log.
# unit and e2e run side by side, then e2e-node where e2e was (a real node
# needs root; it skips, saying why, where the machine cannot): the test packages under test/ each run
# their cluster tests one after another (minutes, mostly waiting), and the
# e2e cluster fits beside them; each one's output is printed whole when it
# ends.
test: build ## Run every test (unit, CLI end-to-end, DNS end-to-end, the chart on a real node where root, fuzz smoke)
	@log=$(BIN)/.tools.log; : >$$log; \
	  $(if $(strip $(CLUSTER_DEPS) $(NODE_DEPS)),echo "building the control plane in the background: $(notdir $(CLUSTER_DEPS) $(NODE_DEPS)) (log: bin/.tools.log)"; \
	  $(MAKE) --no-print-directory $(CLUSTER_DEPS) $(NODE_DEPS) >$$log 2>&1 &,true &) tools=$$!; \
	  trap 'kill $$tools 2>/dev/null || true' EXIT; \
	  $(MAKE) --no-print-directory lint-vet; \
	  if ! wait $$tools; then echo "building the control plane failed:"; cat $$log; exit 1; fi; \
	  trap - EXIT
	@log=$(BIN)/.fuzz.log; echo "fuzz smoke in the background at nice 19 (log: bin/.fuzz.log)"; \
	  nice -n 19 $(MAKE) --no-print-directory fuzz-short >$$log 2>&1 & fuzz=$$!; \
	  trap 'kill $$fuzz 2>/dev/null || true' EXIT; \
	  $(MAKE) --no-print-directory -j2 --output-sync=target unit e2e e2e-node; \
	  if ! wait $$fuzz; then echo "fuzz smoke failed:"; cat $$log; exit 1; fi; \
	  trap - EXIT; grep -v '^fuzz: elapsed' $$log

.PHONY: unit
unit: build $(CLUSTER_DEPS) release-test-dist bin/certmanager ## Run the Go tests but test/e2e (they start etcd, kube-apiserver and, for test/cluster, the rest of a cluster from KUBEBUILDER_ASSETS)
	HEADLESS_GUARD_RELEASE_DIST=$(RELEASE_TEST_DIST) HEADLESS_GUARD_IMAGE_AGAIN=$(RELEASE_TEST_AGAIN)/headless-guard-image.tar $(GO) test -count=1 -timeout=20m -p $(UNIT_PARALLEL) $(UNIT_PKGS)
	$(IMAGE_GO) test -count=1 ./...


# The packages whose tests need no control plane: every package but those
# under test/ (which drive the built binary, most of them on clusters) and
# CONTROL_PLANE_PKGS, the others whose tests start one (envtest or
# test/cluster); a new such package joins that list. `make unit-fast` runs
# them in seconds, before anything is built.
MODULE             := github.com/headless-guard/headless-guard
CONTROL_PLANE_PKGS := $(MODULE)/certs $(MODULE)/hack/run
FAST_PKGS = $(filter-out $(MODULE)/test/% $(CONTROL_PLANE_PKGS),$(shell $(GO) list ./...))

.PHONY: unit-fast
unit-fast: ## Run the pure unit tests (rules, check, report, webhook handlers, audit): no control plane, nothing built first
	$(GO) test -count=1 $(FAST_PKGS)

.PHONY: e2e
e2e: build $(CLUSTER_DEPS) ## Apply the seeds' manifests through the webhook on a local cluster and check what CoreDNS answers
	$(GO) test -count=1 -timeout=20m ./test/e2e/

# A real node (test/cluster's Node): kubelet, containerd, runc and the CNI
# plugins from hack/tools.mk's pins, the chart installed with the image
# `make image` builds, imported into containerd. Needs root, cgroups and
# overlayfs; runc needs libseccomp-dev to build: without it runc is not
# built and the tests skip, saying so. Not root, nothing is built (the
# tests skip too). In `make test`, after e2e and beside unit.
NODE_DEPS = $(if $(filter 0,$(shell id -u)),$(filter-out bin/runc,$(NODE_BINS)) $(if $(shell pkg-config --exists libseccomp 2>/dev/null && echo yes),bin/runc))
.PHONY: e2e-node
e2e-node: build $(CLUSTER_DEPS) $(NODE_DEPS) image ## Install the chart on a real node (root; kubelet, containerd, runc): the guard as its Deployment's pods, seed 001's nslookup from a pod
	HEADLESS_GUARD_IMAGE=$(abspath $(IMAGE_DIR))/headless-guard-image.tar $(GO) test -count=1 -timeout=20m -v ./test/node/

# Not in `make test`: ten minutes. SOAK_DURATION and SOAK_RATE change it.
.PHONY: soak
soak: build $(CLUSTER_DEPS) ## Soak: 10 minutes of mixed load, zero errors and flat memory (docs/reliability.md)
	$(GO) test -count=1 -tags soak -run '^TestSoak$$' -timeout 30m -v ./test/resilience/

# Each fuzz target on its own: `go test -fuzz` takes one target per package run.
FUZZ_TARGETS := ./internal/manifest:FuzzLoad ./internal/manifest:FuzzFastParse ./rules:FuzzEvaluate ./rules:FuzzFindPeerNames ./internal/check:FuzzCheck ./webhook:FuzzAdmissionReview
.PHONY: fuzz-short
fuzz-short: ## Run every fuzz target for FUZZTIME (default 10000 inputs each)
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
	$(IMAGE_GO) vet ./...

.PHONY: lint
lint: lint-vet ## gofmt, go vet, and golangci-lint when installed
	@if command -v golangci-lint >/dev/null; then golangci-lint run ./...; else echo "golangci-lint not installed; gofmt and go vet passed"; fi

.PHONY: docs
docs: ## Regenerate docs/rules.md from the rule registry
	$(GO) run ./hack/gendocs docs/rules.md

# `make bench` prints every figure of docs/performance.md from one run on
# one machine, loopback only, in about twelve minutes on two quiet cores.
# BENCH_ARGS go to hack/benchwebhook (e.g. BENCH_ARGS="-phases load -rounds 4").
BENCH_ARGS ?=
.PHONY: bench
bench: bench-handlers bench-webhook bench-check ## Run every benchmark and print the figures (docs/performance.md)

.PHONY: bench-handlers
bench-handlers: ## Handler micro-benchmarks: ns/op, allocs/op per webhook path, the do-nothing baseline, cache bytes/object
	@echo "== load average: $$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
	$(GO) test -run='^$$' -bench='^Benchmark(Handler|NopHandler|CacheMemory)$$' -benchmem ./webhook/

.PHONY: bench-webhook
bench-webhook: build $(ENVTEST_DEPS) ## Webhook load vs a do-nothing webhook, StatefulSet create latency through kube-apiserver, RSS at 10k Services
	$(GO) run ./hack/benchwebhook $(BENCH_ARGS)

.PHONY: bench-scale
bench-scale: build $(ENVTEST_DEPS) ## Memory, latency and restart to ready at 100,000 Services and 20,000 StatefulSets, in one namespace, then over 1,000 (about 5 minutes each on two quiet cores)
	$(GO) run ./hack/benchwebhook -phases scale -scale 10000,100000 $(BENCH_ARGS)
	$(GO) run ./hack/benchwebhook -phases scale -scale 10000,100000 -scale-namespaces 1000 $(BENCH_ARGS)

.PHONY: bench-check
bench-check: build ## Benchmark `check`: documents per second at 1k, 10k, 100k documents
	@echo "== load average: $$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null)"
	$(GO) test -run='^$$' -bench=BenchmarkCheck -benchmem -benchtime=3x ./internal/check/
	$(GO) run ./hack/benchcheck -binary $(BIN)/headless-guard

.PHONY: clean
clean: ## Remove build output
	rm -rf $(BIN) .local

# --- Container image and deployment (docs/deploy.md) ---
# IMG is the image docker-build tags and deploy runs; OVERLAY is
# self-signed (no dependencies) or cert-manager (needs cert-manager).
IMG     ?= ghcr.io/headless-guard/headless-guard:$(VERSION)
OVERLAY ?= self-signed
DOCKER  ?= docker
# The cluster's kubectl when on PATH, else the one built into bin/.
KUBECTL ?= $(shell command -v kubectl 2>/dev/null || echo $(BIN)/kubectl)

.PHONY: docker-build
docker-build: ## Build the container image IMG with a Docker engine (version stamped: VERSION, COMMIT)
	$(DOCKER) build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMG) .

# helm from KUBEBUILDER_ASSETS when it was set and holds one, else bin/helm
# (built from the hack/tools module), as CLUSTER_DEPS decides.
HELM_DEP := $(if $(and $(if $(ENVTEST_DEPS),,set),$(wildcard $(KUBEBUILDER_ASSETS)/helm)),,bin/helm)
HELM     := $(if $(HELM_DEP),$(BIN)/helm,$(KUBEBUILDER_ASSETS)/helm)
# bin/kubectl when KUBECTL is that one.
KUBECTL_DEP := $(if $(filter $(BIN)/kubectl,$(KUBECTL)),bin/kubectl)
DIST     ?= dist

# render_manifests renders the install manifests of the image tagged
# VERSION into $(1): both overlays and the chart with its defaults.
define render_manifests
@mkdir -p $(1) .local
tmp=$$(mktemp -d .local/manifests-XXXXXX); trap 'rm -rf "$$tmp"' EXIT; \
  for o in cert-manager self-signed; do \
    printf '%s\n' 'apiVersion: kustomize.config.k8s.io/v1beta1' 'kind: Kustomization' \
      'resources:' "  - ../../deploy/overlays/$$o" \
      'images:' '  - name: ghcr.io/headless-guard/headless-guard' '    newTag: "$(VERSION)"' > "$$tmp/kustomization.yaml"; \
    $(KUBECTL) kustomize "$$tmp" > $(1)/headless-guard-$$o.yaml; \
  done
$(HELM) template headless-guard deploy/chart/headless-guard --namespace headless-guard-system --set-string image.tag=$(VERSION) > $(1)/headless-guard-helm.yaml
endef

.PHONY: manifests
manifests: $(HELM_DEP) $(KUBECTL_DEP) ## Regenerate deploy/base from the chart and the cert-manager overlay's Issuers and Certificates from certs/; render the install manifests into dist/
	UPDATE_GOLDEN=1 $(GO) test -count=1 -run '^TestCertManagerOverlayUpToDate$$' ./certs/
	UPDATE_GOLDEN=1 $(GO) test -count=1 -run '^TestHelmRendersTheBase$$' ./test/deploy/
	$(call render_manifests,$(DIST))
	@echo "rendered: $(DIST)/headless-guard-cert-manager.yaml $(DIST)/headless-guard-self-signed.yaml $(DIST)/headless-guard-helm.yaml"

# `make release VERSION=v0.1.0`: the version must be semantic, as the
# chart's is. The binaries are named headless-guard-<os>-<arch>.
RELEASE_PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
SHA256SUM ?= $(shell command -v sha256sum 2>/dev/null || echo shasum -a 256)
.PHONY: release
release: $(HELM_DEP) $(KUBECTL_DEP) bin/hg-image ## Build DIST (dist/): headless-guard for linux and darwin (amd64, arm64), the OCI image of the linux ones with their SBOMs, the chart, the install manifests and checksums.txt, all stamped VERSION
	@case "$(VERSION)" in v[0-9]*.[0-9]*.[0-9]*) ;; *) echo "VERSION=$(VERSION): a release needs a semantic version, e.g. make release VERSION=v0.1.0"; exit 2;; esac
	rm -rf $(DIST) && mkdir -p $(DIST)
	for p in $(RELEASE_PLATFORMS); do \
	  CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -trimpath -ldflags '$(LDFLAGS)' \
	    -o $(DIST)/headless-guard-$${p%/*}-$${p#*/} ./cmd/headless-guard || exit 1; \
	done
	$(call build_image,$(DIST),$(filter linux/%,$(RELEASE_PLATFORMS)))
	$(HELM) package deploy/chart/headless-guard --version $(patsubst v%,%,$(VERSION)) --app-version $(VERSION) --destination $(DIST)
	$(call render_manifests,$(DIST))
	cd $(DIST) && $(SHA256SUM) -- * > checksums.txt
	@ls -l $(DIST)

# What TestRelease inspects, built by make before any test runs: compiling
# inside a test could reach go test's timeout on a cold cache (a fresh
# clone's dependency tree for four platforms is ~12 CPU-minutes). One
# platform besides the host proves the cross build; `make release` builds
# all of RELEASE_PLATFORMS, and TestRelease checks that it would.
#
# The image is built a second time, from copies of the binaries with
# other file times and modes, into RELEASE_TEST_AGAIN: TestImage checks
# that both builds are the same bytes (reproducible). linux/<host arch> is
# always built, so that a release on a darwin host has an image too.
RELEASE_TEST_DIST      := $(BIN)/release-test
RELEASE_TEST_AGAIN     := $(BIN)/release-test-again
HOST_GOARCH            = $(shell $(GO) env GOARCH)
RELEASE_TEST_PLATFORMS = $(shell $(GO) env GOOS)/$(HOST_GOARCH) linux/$(HOST_GOARCH) darwin/arm64
.PHONY: release-test-dist
release-test-dist: $(HELM_DEP) $(KUBECTL_DEP) bin/hg-image ## Build the release TestRelease and TestImage inspect into bin/release-test (the host, linux and darwin/arm64), and its image again
	@$(MAKE) --no-print-directory release VERSION=v0.0.0-releasetest DIST=$(RELEASE_TEST_DIST) \
	  RELEASE_PLATFORMS="$(sort $(RELEASE_TEST_PLATFORMS))" >$(BIN)/.release-test.log 2>&1 || { cat $(BIN)/.release-test.log; exit 1; }
	@rm -rf $(RELEASE_TEST_AGAIN) && mkdir -p $(RELEASE_TEST_AGAIN) && \
	  cp $(RELEASE_TEST_DIST)/headless-guard-linux-$(HOST_GOARCH) $(RELEASE_TEST_AGAIN)/ && \
	  chmod 0700 $(RELEASE_TEST_AGAIN)/headless-guard-linux-$(HOST_GOARCH) && \
	  touch -d '2001-02-03 04:05:06' $(RELEASE_TEST_AGAIN)/headless-guard-linux-$(HOST_GOARCH)
	@$(MAKE) --no-print-directory image-archive VERSION=v0.0.0-releasetest IMAGE_DIR=$(RELEASE_TEST_AGAIN) IMAGE_PLATFORMS=linux/$(HOST_GOARCH) \
	  >>$(BIN)/.release-test.log 2>&1 || { cat $(BIN)/.release-test.log; exit 1; }

# --- The OCI image without a Docker engine (docs/deploy.md#the-image) ---
# hack/image is a module of its own: go-containerregistry, which it links,
# must never enter the build list of the binary it packages.
IMAGE_DIR       ?= bin/image
IMAGE_PLATFORMS ?= linux/$(HOST_GOARCH)
# Every time in the image: the commit's, so that a commit builds the same
# digest wherever and whenever it is built (with the same CA bundle).
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
# The base layer's CA certificates: the build machine's bundle (Debian,
# Ubuntu, Alpine; macOS; Fedora, RHEL).
IMAGE_CA_FILE ?= $(firstword $(wildcard /etc/ssl/certs/ca-certificates.crt /etc/ssl/cert.pem /etc/pki/tls/certs/ca-bundle.crt))
IMAGE_GO = cd hack/image && GOWORK=off GOFLAGS='-mod=readonly -trimpath' CGO_ENABLED=0 $(GO)
bin/hg-image: hack/image/go.mod hack/image/go.sum $(wildcard hack/image/*.go)
	$(IMAGE_GO) build -o $(BIN)/hg-image .

# build_image writes $(1)/headless-guard-image.tar from the binaries
# $(1)/headless-guard-<os>-<arch> of the platforms $(2), and an SBOM
# beside each of them.
define build_image
$(if $(2),$(BIN)/hg-image build -o $(1)/headless-guard-image.tar -version '$(VERSION)' -revision '$(COMMIT)' -epoch '$(SOURCE_DATE_EPOCH)' -ca-file '$(IMAGE_CA_FILE)' \
  $(foreach p,$(2),-platform $(p)=$(1)/headless-guard-$(subst /,-,$(p))))
endef

.PHONY: image image-archive image-push
image: bin/hg-image ## Build the OCI image (no Docker engine) into IMAGE_DIR (bin/image)/headless-guard-image.tar, for IMAGE_PLATFORMS (linux/<host arch>), SBOMs beside
	rm -rf $(IMAGE_DIR) && mkdir -p $(IMAGE_DIR)
	for p in $(IMAGE_PLATFORMS); do \
	  CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -trimpath -ldflags '$(LDFLAGS)' \
	    -o $(IMAGE_DIR)/headless-guard-$${p%/*}-$${p#*/} ./cmd/headless-guard || exit 1; \
	done
	@$(MAKE) --no-print-directory image-archive

# The archive alone, from binaries already in IMAGE_DIR.
image-archive: bin/hg-image
	$(call build_image,$(IMAGE_DIR),$(IMAGE_PLATFORMS))

image-push: ## Push the image to a registry: make image-push IMG=registry.example/headless-guard:v0.1.0 (credentials: docker login's)
	@case "$(origin IMG)" in "command line"|environment*) ;; *) echo "make image-push needs IMG=REGISTRY/REPOSITORY:TAG: the image is pushed only where you say"; exit 2;; esac
	@$(MAKE) --no-print-directory image
	$(BIN)/hg-image push -archive $(IMAGE_DIR)/headless-guard-image.tar -ref '$(IMG)'

.PHONY: deploy
deploy: ## Install into kubectl's current context: OVERLAY=self-signed|cert-manager with image IMG
	@test -d deploy/overlays/$(OVERLAY) || { echo "unknown OVERLAY=$(OVERLAY): deploy/overlays has $$(ls deploy/overlays)"; exit 2; }
	@mkdir -p .local; tmp=$$(mktemp -d .local/deploy-XXXXXX); trap 'rm -rf "$$tmp"' EXIT; \
	  name=$(IMG); tag=$${name##*:}; [ "$$tag" != "$$name" ] && [ "$${tag#*/}" = "$$tag" ] && name=$${name%:*} || tag=latest; \
	  printf '%s\n' 'apiVersion: kustomize.config.k8s.io/v1beta1' 'kind: Kustomization' \
	    'resources:' "  - ../../deploy/overlays/$(OVERLAY)" \
	    'images:' '  - name: ghcr.io/headless-guard/headless-guard' "    newName: $$name" "    newTag: \"$$tag\"" > "$$tmp/kustomization.yaml"; \
	  $(KUBECTL) kustomize "$$tmp" | $(KUBECTL) apply -f -
