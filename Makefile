# crossplane-jitsi. `make help` lists the targets.
#
# The commands of the README:
#   make render   renders the sample claim into a complete Jitsi (builds what it needs)
#   make test     builds the pinned tools it needs and runs every test
#   make up       starts a local playground to apply the sample claim to (make down stops it)

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
build: ## Build function-jitsi and jitsi-nodescaler into _output/bin.
	go build -o _output/bin/function-jitsi ./fn
	go build -o _output/bin/jitsi-nodescaler ./nodescaler/cmd/jitsi-nodescaler

.PHONY: generate
generate: ## Regenerate the XRD from apis/v1alpha1.
	go generate ./apis/...

.PHONY: generate-proto
generate-proto: ## Regenerate nodescaler/externalgrpc from its .proto (needs protoc).
	go generate ./nodescaler/externalgrpc/...

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

.PHONY: package
package: ## Build the Function and Configuration packages and the node scaler image into _output (PUSH=1 pushes them).
	hack/package.sh

.PHONY: vet
vet: ## go vet the root module.
	go vet ./...

# The e2e module links cluster-autoscaler 1.33, whose pseudo-version the checksum database
# does not know; its hashes are in tests/go.sum.
TESTS_ENV := GOWORK=off GONOSUMDB=k8s.io/autoscaler,github.com/Azure/azure-sdk-for-go

.PHONY: test
test: ## Build what is missing, then run every test (unit, render, validate, e2e).
	hack/tools.sh crossplane crossplane-core crossplane-crds etcd kwok kube crane function-patch-and-transform
	$(MAKE) test-unit validate test-e2e

.PHONY: test-unit
test-unit: vet ## The root module's tests: unit, schema, golden renders with the real CLI.
	JITSI_REQUIRE_TOOLS=1 go test -count=1 ./...

.PHONY: test-e2e
test-e2e: ## The end-to-end tests on a local control plane (tests/ module).
	cd tests && $(TESTS_ENV) go vet -tags externalgrpc ./... && \
	  { $(TESTS_ENV) go test -count=1 -timeout 45m -parallel 4 -v ./...; rc=$$?; ../hack/e2e-cleanup.sh; exit $$rc; }

# The playground: everything `make test` runs end to end, left running for you to try.
# tests/cmd/playground, rebuilt on each run (warm, a link).
PLAYGROUND := $(CURDIR)/_output/bin/playground

.PHONY: up
up: ## Start the playground (.cache/up): a local cluster with Crossplane, the Jitsi package, autoscaling, emulated bridges.
	hack/tools.sh etcd kube kwok crossplane crossplane-core crossplane-crds crane
	cd tests && $(TESTS_ENV) go build -o $(PLAYGROUND) ./cmd/playground
	$(PLAYGROUND) up

.PHONY: down
down: ## Stop every process of the playground and remove .cache/up.
	cd tests && $(TESTS_ENV) go build -o $(PLAYGROUND) ./cmd/playground
	$(PLAYGROUND) down

.PHONY: bench
bench: ## Run the benchmarks of the function and the node scaler.
	go test -run '^$$' -bench . -benchmem ./fn/ ./nodescaler/server/

# The lecture day: a trace played on one fresh local cluster per policy, side by side, time
# compressed 60 times (docs/bench-day.md). TRACE is a CSV path from the repository root.
TRACE ?= tests/benchday/testdata/university-day.csv

.PHONY: bench-day
bench-day: ## Play a lecture day (TRACE=path.csv) per autoscaling policy: _output/bench-day/<trace>/ (~27 min).
	hack/tools.sh crossplane crossplane-core etcd kwok kube
	cd tests && { BENCH_DAY=1 TRACE=$(abspath $(TRACE)) $(TESTS_ENV) go test -v -run '^$$' -bench LectureDay \
	  -benchtime 1x -timeout 60m ./benchday/; rc=$$?; ../hack/e2e-cleanup.sh; exit $$rc; }

.PHONY: clean
clean: ## Remove build output (keeps the tool cache).
	rm -rf _output
