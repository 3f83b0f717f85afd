# crossplane-jitsi. `make help` lists the targets.
#
# The two commands of the README:
#   make render   renders the sample claim into a complete Jitsi (builds what it needs)
#   make test     builds the pinned tools it needs and runs every test

SHELL := /usr/bin/env bash
export GOFLAGS ?= -buildvcs=false
CACHE := $(CURDIR)/.cache
BIN := $(CACHE)/bin
XRD := package/configuration/xrd.yaml

.PHONY: help
help: ## Show the targets.
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-16s %s\n", $$1, $$2}'

.PHONY: tools
tools: ## Build the pinned Crossplane CLI and render engine into .cache/bin (cold: ~10 min).
	hack/tools.sh crossplane crossplane-core

.PHONY: build
build: ## Build function-jitsi into _output/bin.
	go build -o _output/bin/function-jitsi ./fn

.PHONY: generate
generate: ## Regenerate the XRD from apis/v1alpha1.
	go generate ./apis/...

.PHONY: render
render: ## Render examples/claim.yaml (as its XR) with the real Crossplane CLI.
	hack/render.sh examples/xr.yaml --xrd=$(XRD)

.PHONY: render-observed
render-observed: ## Render the sample mid-lecture, from examples/observed.yaml.
	hack/render.sh examples/xr.yaml --xrd=$(XRD) -o examples/observed.yaml

.PHONY: render-static
render-static: ## Render the static, jibri-less example.
	hack/render.sh examples/xr-static.yaml --xrd=$(XRD)

.PHONY: validate
validate: ## Validate every example offline with crossplane resource validate.
	hack/validate.sh

.PHONY: vet
vet: ## go vet every module.
	go vet ./...

.PHONY: test
test: tools vet ## Build what is missing, then run every test.
	JITSI_REQUIRE_TOOLS=1 go test ./...

.PHONY: bench
bench: ## Run the benchmarks.
	go test -run '^$$' -bench . -benchmem ./fn/

.PHONY: clean
clean: ## Remove build output (keeps the tool cache).
	rm -rf _output
