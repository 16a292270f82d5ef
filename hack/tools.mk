# hack/tools.mk -- build the Kubernetes control-plane binaries from pinned Go
# modules into bin/, for envtest (KUBEBUILDER_ASSETS=bin/) and a local
# end-to-end cluster.
#
# Include it from the top-level Makefile (`include hack/tools.mk`) or use it
# on its own from the repository root:
#
#   make -f hack/tools.mk envtest-assets   # kube-apiserver, etcd, kubectl
#   make -f hack/tools.mk tools            # every binary below + kwok stages
#   make -f hack/tools.mk bin/kubectl      # one binary
#
# Pins live in the tools modules, never in the main module's go.mod:
#
#   hack/tools/go.mod          k8s.io/kubernetes (+ its k8s.io/* staging modules)
#                              -> kube-apiserver, kube-controller-manager,
#                                 kube-scheduler, kubectl
#                              sigs.k8s.io/kwok             -> kwok, kwok-stages
#                              github.com/coredns/coredns   -> coredns (cmd/coredns:
#                                                              the plugins the tests use)
#                              helm.sh/helm/v4              -> helm
#                              helm.sh/helm/v3              -> helm3 (the chart's
#                                                              tests run with both)
#   hack/tools/etcd/go.mod     go.etcd.io/etcd/server/v3   -> etcd
#
# and, for a real node (`make e2e-node`; kubelet from hack/tools/go.mod):
#
#   hack/tools/containerd/go.mod  github.com/containerd/containerd/v2
#                                 -> containerd, ctr, containerd-shim-runc-v2
#   hack/tools/runc/go.mod        github.com/opencontainers/runc -> runc (cgo:
#                                 needs libseccomp-dev)
#   hack/tools/cni/go.mod         github.com/containernetworking/plugins
#                                 -> bin/cni/{bridge,host-local,loopback,portmap}
#   hack/tools/nodeimages/go.mod  github.com/google/go-containerregistry
#                                 -> bin/node-images/{pause,toolbox}.tar
#
# Each of those is a module of its own so that it never raises a
# dependency of the main module or of hack/tools/go.mod, and builds at
# exactly the versions its upstream release selects.
#
# One module for the Kubernetes tools (kubelet too), kwok, CoreDNS and helm,
# so that the k8s.io/* libraries they all link are compiled once (see
# hack/tools/go.mod), with the same flags and build tags for every binary:
# a package compiled with other tags is compiled again.
#
# Each binary depends on its module's go.mod/go.sum, so bumping a pin
# rebuilds it. Builds run with -mod=readonly: a missing go.sum entry is an
# error instead of a silent rewrite of the pins (update a pin with
# `cd hack/tools/<dir> && go get MODULE@VERSION && go mod tidy`).
#
# If KUBEBUILDER_ASSETS is already set (environment, command line or an
# earlier makefile), it is used as is: ENVTEST_DEPS is empty and
# `envtest-assets` builds nothing. Asking for a file (`make bin/etcd`) or
# for `tools` still builds it.

# Directory of this file, so the tools modules are found however it is
# included; must be computed before any other include.
TOOLS_MK_DIR      := $(patsubst %/,%,$(dir $(lastword $(MAKEFILE_LIST))))
TOOLS_MOD_DIR     := $(TOOLS_MK_DIR)/tools
TOOLS_ETCD_DIR    := $(TOOLS_MOD_DIR)/etcd
TOOLS_CONTAINERD_DIR := $(TOOLS_MOD_DIR)/containerd
TOOLS_RUNC_DIR    := $(TOOLS_MOD_DIR)/runc
TOOLS_CNI_DIR     := $(TOOLS_MOD_DIR)/cni
TOOLS_BIN_ABS     := $(abspath bin)
# Included, this file must not become the includer's default goal.
TOOLS_MK_INCLUDED := $(filter-out $(lastword $(MAKEFILE_LIST)),$(firstword $(MAKEFILE_LIST)))
TOOLS_MK_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)

TOOLS_GO ?= go
# GOWORK=off: a go.work at the repository root must not pull the tools
# modules into the main build list (or the other way round).
# -buildvcs=false: the state of this repository's checkout is not part of a
# tool binary. CGO_ENABLED=0: static binaries, as upstream releases them.
TOOLS_GO_ENV = GOWORK=off GOFLAGS='-mod=readonly -buildvcs=false' CGO_ENABLED=0
TOOLS_GO_BUILD = $(TOOLS_GO_ENV) $(TOOLS_GO) build -trimpath

ENVTEST_BINS := bin/kube-apiserver bin/etcd bin/kubectl
TOOLS_BINS   := $(ENVTEST_BINS) bin/kube-controller-manager bin/kube-scheduler \
	bin/kwok bin/coredns bin/helm bin/helm3

# Recipes that run envtest should depend on $(ENVTEST_DEPS) (or on
# envtest-assets) and use $(KUBEBUILDER_ASSETS), which is also exported.
ifeq ($(strip $(KUBEBUILDER_ASSETS)),)
ENVTEST_DEPS := $(ENVTEST_BINS)
else
ENVTEST_DEPS :=
endif
KUBEBUILDER_ASSETS ?= $(abspath bin)
ifeq ($(strip $(KUBEBUILDER_ASSETS)),)
# Set but empty counts as unset.
override KUBEBUILDER_ASSETS := $(abspath bin)
endif
export KUBEBUILDER_ASSETS

# Version stamping for the Kubernetes binaries, as upstream's
# hack/lib/version.sh does with ldflags: the version comes from the
# k8s.io/kubernetes pin, the build date is that release's module time (so
# the stamp does not change from build to build). Without it the binaries
# report v0.0.0-master. Evaluated only when a Kubernetes binary is built.
KUBE_MOD_VERSION = $(shell cd $(TOOLS_MOD_DIR) && $(TOOLS_GO_ENV) $(TOOLS_GO) list -m -f '{{.Version}}' k8s.io/kubernetes)
KUBE_MOD_TIME    = $(shell cd $(TOOLS_MOD_DIR) && $(TOOLS_GO_ENV) $(TOOLS_GO) list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)
kube_version_x = -X 'k8s.io/component-base/version.$(1)=$(2)' -X 'k8s.io/client-go/pkg/version.$(1)=$(2)'
# $(1): the version string, e.g. v1.37.1
kube_ldflags = -s -w \
	$(call kube_version_x,gitVersion,$(1)) \
	$(call kube_version_x,gitMajor,$(word 1,$(subst ., ,$(patsubst v%,%,$(1))))) \
	$(call kube_version_x,gitMinor,$(word 2,$(subst ., ,$(patsubst v%,%,$(1))))) \
	$(call kube_version_x,gitCommit,) \
	$(call kube_version_x,gitTreeState,clean) \
	$(call kube_version_x,buildDate,$(KUBE_MOD_TIME))
# The build tags upstream uses for non-debug release binaries.
KUBE_BUILD_TAGS := selinux,notest,grpcnotrace

TOOLS_KUBE_DEPS    := $(TOOLS_MOD_DIR)/go.mod $(TOOLS_MOD_DIR)/go.sum
TOOLS_ETCD_DEPS    := $(TOOLS_ETCD_DIR)/go.mod $(TOOLS_ETCD_DIR)/go.sum
# Every binary of the shared module is built with these flags (the
# Kubernetes binaries' tags and -s -w), so that no package is compiled twice.
TOOLS_SHARED_BUILD = cd $(TOOLS_MOD_DIR) && $(TOOLS_GO_BUILD) -tags '$(KUBE_BUILD_TAGS)'

.PHONY: tools envtest-assets tools-clean

tools: $(TOOLS_BINS) bin/kwok-stages ## Build all control-plane binaries (and kwok stages) into bin/

envtest-assets: $(ENVTEST_DEPS) ## Build kube-apiserver, etcd and kubectl into bin/ unless KUBEBUILDER_ASSETS is set
	@echo "KUBEBUILDER_ASSETS=$(KUBEBUILDER_ASSETS)"

tools-clean: ## Remove the binaries built by hack/tools.mk
	rm -rf $(TOOLS_BINS) bin/kwok-stages $(NODE_BINS)

# Kubernetes binaries: the package is k8s.io/kubernetes/cmd/<binary name>.
define kube_build
@mkdir -p $(TOOLS_BIN_ABS)
$(TOOLS_SHARED_BUILD) \
	-ldflags "$(call kube_ldflags,$(KUBE_MOD_VERSION))" \
	-o $(TOOLS_BIN_ABS)/$(notdir $@) k8s.io/kubernetes/cmd/$(notdir $@)
@touch $@
endef

bin/kube-apiserver: $(TOOLS_KUBE_DEPS) ## Build kube-apiserver (k8s.io/kubernetes pin in hack/tools/go.mod)
	$(kube_build)

bin/kubectl: $(TOOLS_KUBE_DEPS) ## Build kubectl (k8s.io/kubernetes pin in hack/tools/go.mod)
	$(kube_build)

bin/kube-controller-manager: $(TOOLS_KUBE_DEPS) ## Build kube-controller-manager (k8s.io/kubernetes pin in hack/tools/go.mod)
	$(kube_build)

bin/kube-scheduler: $(TOOLS_KUBE_DEPS) ## Build kube-scheduler (k8s.io/kubernetes pin in hack/tools/go.mod)
	$(kube_build)

# etcd: the main package is the root of go.etcd.io/etcd/server/v3. Its
# version is compiled in (go.etcd.io/etcd/api/v3/version.Version).
bin/etcd: $(TOOLS_ETCD_DEPS) ## Build etcd (go.etcd.io/etcd/server/v3 pin in hack/tools/etcd/go.mod)
	@mkdir -p $(TOOLS_BIN_ABS)
	cd $(TOOLS_ETCD_DIR) && $(TOOLS_GO_BUILD) -ldflags '-s -w' \
		-o $(TOOLS_BIN_ABS)/etcd go.etcd.io/etcd/server/v3
	@touch $@

# kwok's version (sigs.k8s.io/kwok/pkg/consts.Version) is compiled in.
bin/kwok: $(TOOLS_KUBE_DEPS) ## Build kwok (sigs.k8s.io/kwok pin in hack/tools/go.mod)
	@mkdir -p $(TOOLS_BIN_ABS)
	$(TOOLS_SHARED_BUILD) -ldflags '-s -w' \
		-o $(TOOLS_BIN_ABS)/kwok sigs.k8s.io/kwok/cmd/kwok
	@touch $@

# The "fast" node and pod lifecycle Stage files shipped in the kwok module,
# for `kwok --config bin/kwok-stages/...`. Both directories also hold a
# kustomization.yaml (not a stage, and the two would overwrite each other),
# which is left out. Module cache files are read-only: copy, then u+w.
bin/kwok-stages: $(TOOLS_KUBE_DEPS) ## Copy kwok's fast node/pod Stage files into bin/kwok-stages/
	cd $(TOOLS_MOD_DIR) && $(TOOLS_GO_ENV) $(TOOLS_GO) mod download sigs.k8s.io/kwok
	rm -rf $@ && mkdir -p $@
	kwok_dir=$$(cd $(TOOLS_MOD_DIR) && $(TOOLS_GO_ENV) $(TOOLS_GO) list -m -f '{{.Dir}}' sigs.k8s.io/kwok) && \
		test -n "$$kwok_dir" && \
		for f in $$kwok_dir/kustomize/stage/node/fast/*.yaml $$kwok_dir/kustomize/stage/pod/fast/*.yaml; do \
			case $${f##*/} in kustomization.yaml) ;; *) cp $$f $@/ || exit 1 ;; esac; \
		done
	chmod u+w $@/*.yaml
	@touch $@

# CoreDNS with only the plugins the test cluster's Corefile uses: a main of
# our own (hack/tools/cmd/coredns) importing them from the pinned module.
# Upstream's main links every plugin it ships (cloud DNS providers,
# tracing exporters), most of its build time.
bin/coredns: $(TOOLS_KUBE_DEPS) $(TOOLS_MOD_DIR)/cmd/coredns/main.go ## Build coredns (github.com/coredns/coredns pin in hack/tools/go.mod; plugins in hack/tools/cmd/coredns)
	@mkdir -p $(TOOLS_BIN_ABS)
	$(TOOLS_SHARED_BUILD) -ldflags '-s -w' \
		-o $(TOOLS_BIN_ABS)/coredns ./cmd/coredns
	@touch $@

# helm's version (helm.sh/helm/v4/internal/version.version) is stamped as
# upstream's Makefile does, from the pin; without it `helm version` says v4.3.
HELM_MOD_VERSION = $(shell cd $(TOOLS_MOD_DIR) && $(TOOLS_GO_ENV) $(TOOLS_GO) list -m -f '{{.Version}}' helm.sh/helm/v4)
bin/helm: $(TOOLS_KUBE_DEPS) ## Build helm (helm.sh/helm/v4 pin in hack/tools/go.mod)
	@mkdir -p $(TOOLS_BIN_ABS)
	$(TOOLS_SHARED_BUILD) \
		-ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$(HELM_MOD_VERSION) -X helm.sh/helm/v4/internal/version.gitTreeState=clean" \
		-o $(TOOLS_BIN_ABS)/helm helm.sh/helm/v4/cmd/helm
	@touch $@

# Helm 3, which most clusters are still installed with, stamped as its
# Makefile does: the version, and the Kubernetes version `helm template` and
# `helm lint` assume without a cluster (from the client-go module: v0.X.Y
# is 1.X). Unstamped it assumes v1.20 and refuses the chart's kubeVersion.
HELM3_MOD_VERSION = $(shell cd $(TOOLS_MOD_DIR) && $(TOOLS_GO_ENV) $(TOOLS_GO) list -m -f '{{.Version}}' helm.sh/helm/v3)
HELM3_K8S_MINOR   = $(word 2,$(subst ., ,$(shell cd $(TOOLS_MOD_DIR) && $(TOOLS_GO_ENV) $(TOOLS_GO) list -m -f '{{.Version}}' k8s.io/client-go)))
helm3_k8s_x       = -X helm.sh/helm/v3/pkg/$(1).k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/$(1).k8sVersionMinor=$(HELM3_K8S_MINOR)
bin/helm3: $(TOOLS_KUBE_DEPS) ## Build helm 3 as helm3 (helm.sh/helm/v3 pin in hack/tools/go.mod)
	@mkdir -p $(TOOLS_BIN_ABS)
	$(TOOLS_SHARED_BUILD) \
		-ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$(HELM3_MOD_VERSION) -X helm.sh/helm/v3/internal/version.gitTreeState=clean $(call helm3_k8s_x,chartutil) $(call helm3_k8s_x,lint/rules)" \
		-o $(TOOLS_BIN_ABS)/helm3 helm.sh/helm/v3/cmd/helm
	@touch $@

# --- A real node: kubelet, containerd, runc and the CNI plugins ---
# Not in `tools`: only `make e2e-node` (test/node) runs them, as root.
NODE_BINS := bin/kubelet bin/containerd bin/ctr bin/containerd-shim-runc-v2 bin/runc bin/cni bin/node-images

.PHONY: node-tools
node-tools: $(NODE_BINS) ## Build the node's binaries (kubelet, containerd, ctr, the runc shim, runc, CNI plugins) and its pause and toolbox images into bin/

# kubelet from the k8s.io/kubernetes pin of the shared module, with the same
# flags and tags as the control plane, so that it compiles only what the
# others do not link.
bin/kubelet: $(TOOLS_KUBE_DEPS) ## Build kubelet (k8s.io/kubernetes pin in hack/tools/go.mod)
	$(kube_build)

# containerd as its Makefile builds a release (version stamped from the pin;
# static), with the tags issue 23 verified: no btrfs snapshotter (it would
# need cgo and libbtrfs) and no CLI docs. One set of flags for the three, so
# that their packages are compiled once.
CONTAINERD_DEPS        := $(TOOLS_CONTAINERD_DIR)/go.mod $(TOOLS_CONTAINERD_DIR)/go.sum
CONTAINERD_MOD_VERSION = $(shell cd $(TOOLS_CONTAINERD_DIR) && $(TOOLS_GO_ENV) $(TOOLS_GO) list -m -f '{{.Version}}' github.com/containerd/containerd/v2)
CONTAINERD_PKG         := github.com/containerd/containerd/v2
define containerd_build
@mkdir -p $(TOOLS_BIN_ABS)
cd $(TOOLS_CONTAINERD_DIR) && $(TOOLS_GO_BUILD) -tags 'no_btrfs urfave_cli_no_docs' \
	-ldflags "-s -w -X $(CONTAINERD_PKG)/version.Version=$(CONTAINERD_MOD_VERSION) -X $(CONTAINERD_PKG)/version.Package=$(CONTAINERD_PKG)" \
	-o $(TOOLS_BIN_ABS)/$(notdir $@) $(CONTAINERD_PKG)/cmd/$(notdir $@)
@touch $@
endef
bin/containerd: $(CONTAINERD_DEPS) ## Build containerd (github.com/containerd/containerd/v2 pin in hack/tools/containerd/go.mod)
	$(containerd_build)
bin/ctr: $(CONTAINERD_DEPS) ## Build ctr (containerd's client; same pin)
	$(containerd_build)
bin/containerd-shim-runc-v2: $(CONTAINERD_DEPS) ## Build containerd-shim-runc-v2 (same pin)
	$(containerd_build)

# runc needs cgo for libseccomp (Debian: libseccomp-dev). Built without its
# default libpathrs tag, which needs a Rust library. Dynamically linked
# against the machine's libseccomp, version stamped from the pin.
RUNC_DEPS        := $(TOOLS_RUNC_DIR)/go.mod $(TOOLS_RUNC_DIR)/go.sum
RUNC_MOD_VERSION = $(shell cd $(TOOLS_RUNC_DIR) && $(TOOLS_GO_ENV) $(TOOLS_GO) list -m -f '{{.Version}}' github.com/opencontainers/runc)
bin/runc: $(RUNC_DEPS) ## Build runc (github.com/opencontainers/runc pin in hack/tools/runc/go.mod; needs libseccomp-dev)
	@pkg-config --exists libseccomp 2>/dev/null || { echo "bin/runc needs libseccomp's headers: apt-get install -y libseccomp-dev (Debian, Ubuntu) or dnf install -y libseccomp-devel"; exit 1; }
	@mkdir -p $(TOOLS_BIN_ABS)
	cd $(TOOLS_RUNC_DIR) && $(TOOLS_GO_ENV) CGO_ENABLED=1 $(TOOLS_GO) build -trimpath -tags 'seccomp urfave_cli_no_docs' \
		-ldflags "-s -w -X main.version=$(patsubst v%,%,$(RUNC_MOD_VERSION))" \
		-o $(TOOLS_BIN_ABS)/runc github.com/opencontainers/runc
	@touch $@

# The CNI plugins the node's network uses, in bin/cni/ (kubelet's and
# containerd's CNI bin dir), version stamped as build_linux.sh does.
CNI_PLUGINS        := main/bridge ipam/host-local main/loopback meta/portmap
CNI_DEPS           := $(TOOLS_CNI_DIR)/go.mod $(TOOLS_CNI_DIR)/go.sum
CNI_MOD_VERSION    = $(shell cd $(TOOLS_CNI_DIR) && $(TOOLS_GO_ENV) $(TOOLS_GO) list -m -f '{{.Version}}' github.com/containernetworking/plugins)
bin/cni: $(CNI_DEPS) ## Build the CNI plugins bridge, host-local, loopback and portmap into bin/cni/ (github.com/containernetworking/plugins pin in hack/tools/cni/go.mod)
	@mkdir -p $(TOOLS_BIN_ABS)/cni
	cd $(TOOLS_CNI_DIR) && for p in $(CNI_PLUGINS); do \
		$(TOOLS_GO_BUILD) -ldflags "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$(CNI_MOD_VERSION)" \
			-o $(TOOLS_BIN_ABS)/cni/$${p#*/} github.com/containernetworking/plugins/plugins/$$p || exit 1; \
	done
	@touch $@

# The node's images besides headless-guard's, from small static programs
# (hack/tools/nodeimages): the sandbox image registry.k8s.io/pause:3.10.2
# and the pods' toolbox (nslookup, a web server), as OCI archives for
# `ctr images import`. A module of its own: go-containerregistry.
NODEIMAGES_DIR  := $(TOOLS_MOD_DIR)/nodeimages
NODEIMAGES_DEPS := $(NODEIMAGES_DIR)/go.mod $(NODEIMAGES_DIR)/go.sum $(wildcard $(NODEIMAGES_DIR)/*.go $(NODEIMAGES_DIR)/*/*.go)
bin/node-images: $(NODEIMAGES_DEPS) ## Build the node's pause and toolbox images into bin/node-images/*.tar (hack/tools/nodeimages)
	@mkdir -p $(TOOLS_BIN_ABS)/node-images
	cd $(NODEIMAGES_DIR) && $(TOOLS_GO_BUILD) -ldflags '-s -w' -o $(TOOLS_BIN_ABS)/node-images/pause ./pause && \
		$(TOOLS_GO_BUILD) -ldflags '-s -w' -o $(TOOLS_BIN_ABS)/node-images/toolbox ./toolbox && \
		$(TOOLS_GO_BUILD) -o $(TOOLS_BIN_ABS)/node-images/nodeimages . && \
		$(TOOLS_BIN_ABS)/node-images/nodeimages -dir $(TOOLS_BIN_ABS)/node-images -platform linux/$$($(TOOLS_GO) env GOARCH)
	@touch $@

ifneq ($(TOOLS_MK_INCLUDED),)
.DEFAULT_GOAL := $(TOOLS_MK_SAVED_DEFAULT_GOAL)
endif
