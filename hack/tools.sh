#!/usr/bin/env bash
# tools.sh builds the pinned tools this project needs into a git-ignored cache, from the Go
# module proxy only (no Docker, no release downloads). A tool whose binary is already in the
# cache is skipped, so warm runs cost nothing.
#
#   hack/tools.sh crossplane crossplane-core     # the CLI and the render engine
#   hack/tools.sh kube etcd kwok                 # a local control plane for tests/
#   hack/tools.sh protoc-gen                     # protoc-gen-go and protoc-gen-go-grpc
#   hack/tools.sh crane                          # container images and registries without Docker
#   hack/tools.sh crossplane-crds                # Crossplane core's CRDs, for `crossplane core init`
#   hack/tools.sh function-patch-and-transform   # a peer function, packaged by the e2e tests
#   hack/tools.sh all
#
# Why the detours: the proxy serves exact versions only (no version lists), so `go install
# pkg@v` fails for modules that need a deprecation lookup (the Crossplane CLI) or that carry
# replace directives (kubernetes, etcd server, Crossplane core). We build those from a copy of
# the module directory or from a small wrapper module instead.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${CACHE_DIR:-$ROOT/.cache}
BIN=$CACHE/bin
BUILD=$CACHE/build

CROSSPLANE_CLI_VERSION=v2.5.0    # github.com/crossplane/cli/v2
CROSSPLANE_CORE_VERSION=v2.4.0   # github.com/crossplane/crossplane/v2 (render engine)
KUBERNETES_VERSION=v1.35.4       # k8s.io/kubernetes
ETCD_VERSION=v3.6.5              # go.etcd.io/etcd/server/v3
KWOK_VERSION=v0.8.0              # sigs.k8s.io/kwok
PROTOBUF_VERSION=v1.36.11        # google.golang.org/protobuf (protoc-gen-go)
PROTOC_GEN_GO_GRPC_VERSION=v1.5.1
CRANE_VERSION=v0.21.9            # github.com/google/go-containerregistry (images without Docker)
FUNCTION_PT_VERSION=v0.10.7      # github.com/crossplane-contrib/function-patch-and-transform

export GOWORK=off GOFLAGS=-buildvcs=false
mkdir -p "$BIN" "$BUILD"

log() { echo "[tools $(date +%T)] $*" >&2; }

# moddir prints the module cache directory of module@version, downloading it if needed. It runs
# in a throwaway module so that the project's go.mod plays no part.
moddir() {
  local d=$BUILD/download
  mkdir -p "$d"
  [ -f "$d/go.mod" ] || printf 'module local/download\n\ngo 1.26\n' > "$d/go.mod"
  (cd "$d" && go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
}

# copy_module copies module@version into $BUILD/<name> (writable) and prints the path.
copy_module() {
  local dst=$BUILD/$2 src
  src=$(moddir "$1")
  rm -rf "$dst"
  cp -r "$src" "$dst"
  chmod -R u+w "$dst"
  echo "$dst"
}

have() { [ -x "$BIN/$1" ]; }

build_crossplane() {
  have crossplane && return 0
  local src
  log "building crossplane CLI $CROSSPLANE_CLI_VERSION (cold: ~4 min on 2 cores)"
  src=$(copy_module "github.com/crossplane/cli/v2@$CROSSPLANE_CLI_VERSION" crossplane-cli)
  (cd "$src" && go build -trimpath \
    -ldflags "-s -w -X github.com/crossplane/crossplane-runtime/v2/pkg/version.version=$CROSSPLANE_CLI_VERSION" \
    -o "$BIN/crossplane" ./cmd/crossplane)
  rm -rf "$src"
}

build_crossplane_core() {
  have crossplane-core && return 0
  local src
  log "building crossplane core $CROSSPLANE_CORE_VERSION as the render engine (cold: ~2 min)"
  src=$(copy_module "github.com/crossplane/crossplane/v2@$CROSSPLANE_CORE_VERSION" crossplane-core)
  # The core's go.mod replaces its apis module with ./apis, a nested module that is not in the
  # module zip; the published apis module at the same version is identical.
  (cd "$src" &&
    go mod edit -dropreplace github.com/crossplane/crossplane/apis/v2 \
      -require "github.com/crossplane/crossplane/apis/v2@$CROSSPLANE_CORE_VERSION" &&
    go build -mod=mod -trimpath \
      -ldflags "-s -w -X github.com/crossplane/crossplane-runtime/v2/pkg/version.version=$CROSSPLANE_CORE_VERSION" \
      -o "$BIN/crossplane-core" ./cmd/crossplane)
  rm -rf "$src"
}

# The core does not embed its CRDs: `crossplane core init` reads them from CRDS_PATH. Keep the
# module's cluster/crds next to the binary, at the core's version.
build_crossplane_crds() {
  [ -f "$BIN/crossplane-crds/pkg.crossplane.io_functions.yaml" ] && return 0
  local src
  log "copying crossplane core $CROSSPLANE_CORE_VERSION CRDs"
  src=$(moddir "github.com/crossplane/crossplane/v2@$CROSSPLANE_CORE_VERSION")
  rm -rf "$BIN/crossplane-crds.tmp"
  cp -r "$src/cluster/crds" "$BIN/crossplane-crds.tmp"
  chmod -R u+w "$BIN/crossplane-crds.tmp"
  mv "$BIN/crossplane-crds.tmp" "$BIN/crossplane-crds"
}

# function-patch-and-transform, a static linux binary as in its own image, plus its package
# metadata (crossplane.yaml and the input CRD), from which the e2e tests build its package.
build_function_pt() {
  have function-patch-and-transform && return 0
  local src
  log "building function-patch-and-transform $FUNCTION_PT_VERSION"
  src=$(copy_module "github.com/crossplane-contrib/function-patch-and-transform@$FUNCTION_PT_VERSION" function-pt)
  (cd "$src" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags "-s -w" -o function .)
  rm -rf "$BIN/function-patch-and-transform-package"
  cp -r "$src/package" "$BIN/function-patch-and-transform-package"
  # The binary last: its presence means the tool is complete.
  mv "$src/function" "$BIN/function-patch-and-transform"
  rm -rf "$src"
}

build_kube() {
  local want=() b
  for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    have "$b" || want+=("k8s.io/kubernetes/cmd/$b")
  done
  [ ${#want[@]} -eq 0 ] && return 0
  local w=$BUILD/kube kdir minor staging
  minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  staging=v0.${KUBERNETES_VERSION#v1.}
  mkdir -p "$w"
  kdir=$(moddir "k8s.io/kubernetes@$KUBERNETES_VERSION")
  # kubernetes' go.mod replaces every staging module with ./staging/..., which the module zip
  # lacks. A wrapper module maps each of them to its published v0.X.Y instead.
  {
    printf 'module local/kubebuild\n\ngo 1.25.0\n\ngodebug default=go1.25\n\nrequire k8s.io/kubernetes %s\n\nreplace (\n' "$KUBERNETES_VERSION"
    grep -E '^[[:space:]]+k8s.io/[a-z-]+ => ./staging' "$kdir/go.mod" |
      awk -v v="$staging" '{print "\t"$1" => "$1" "v}'
    printf ')\n\ntool (\n'
    for b in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
      printf '\tk8s.io/kubernetes/cmd/%s\n' "$b"
    done
    printf ')\n'
  } > "$w/go.mod"
  # Without these ldflags /version reports v0.0.0-master.
  local ld="-s -w" p bd
  bd=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld+=" -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor"
    ld+=" -X $p.gitTreeState=clean -X $p.buildDate=$bd"
  done
  log "building ${want[*]##*/} $KUBERNETES_VERSION (cold: ~5.5 min on 2 cores)"
  (cd "$w" && go mod tidy && go build -trimpath -ldflags "$ld" -o "$BIN/" "${want[@]}")
}

build_etcd() {
  have etcd && return 0
  local w=$BUILD/etcd
  mkdir -p "$w"
  log "building etcd $ETCD_VERSION"
  printf 'module local/etcdbuild\n\ngo 1.24\n\nrequire go.etcd.io/etcd/server/v3 %s\n\ntool go.etcd.io/etcd/server/v3\n' \
    "$ETCD_VERSION" > "$w/go.mod"
  (cd "$w" && go mod tidy && go build -trimpath -ldflags "-s -w" -o "$BIN/etcd" go.etcd.io/etcd/server/v3)
}

build_kwok() {
  have kwok && return 0
  log "building kwok $KWOK_VERSION"
  GOBIN=$BIN go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
  # kwok refuses to start without stages; keep the "fast" ones from its own module next to it.
  local kd out=$BIN/kwok-stages.yaml f
  kd=$(moddir "sigs.k8s.io/kwok@$KWOK_VERSION")/kustomize/stage
  : > "$out.tmp"
  for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
           pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
    echo "---" >> "$out.tmp"; cat "$kd/$f" >> "$out.tmp"
  done
  mv "$out.tmp" "$out"
}

build_protoc_gen() {
  if ! have protoc-gen-go; then
    log "building protoc-gen-go $PROTOBUF_VERSION"
    GOBIN=$BIN go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOBUF_VERSION"
  fi
  if ! have protoc-gen-go-grpc; then
    log "building protoc-gen-go-grpc $PROTOC_GEN_GO_GRPC_VERSION"
    GOBIN=$BIN go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC_VERSION"
  fi
}

build_crane() {
  have crane && return 0
  log "building crane $CRANE_VERSION"
  GOBIN=$BIN go install -trimpath -ldflags "-s -w" "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION"
}

[ $# -gt 0 ] || { echo "usage: $0 crossplane|crossplane-core|crossplane-crds|kube|etcd|kwok|protoc-gen|crane|function-patch-and-transform|all ..." >&2; exit 2; }
for tool in "$@"; do
  case "$tool" in
    crossplane) build_crossplane ;;
    crossplane-core) build_crossplane_core ;;
    kube) build_kube ;;
    etcd) build_etcd ;;
    kwok) build_kwok ;;
    protoc-gen) build_protoc_gen ;;
    crane) build_crane ;;
    crossplane-crds) build_crossplane_crds ;;
    function-patch-and-transform) build_function_pt ;;
    all) build_crossplane; build_crossplane_core; build_crossplane_crds; build_etcd; build_kwok; build_kube
         build_protoc_gen; build_crane; build_function_pt ;;
    *) echo "unknown tool $tool" >&2; exit 2 ;;
  esac
done
