#!/usr/bin/env bash
# package.sh builds the Crossplane packages and images without Docker:
#   - function-jitsi's runtime image (crane: one layer on an empty base), embedded in the
#     Function package;
#   - the Configuration package: the XRD, the Composition, and a dependency on the Function;
#   - jitsi-nodescaler's and jvb-deletion-cost's images, as tarballs.
# With PUSH=1 it pushes them to XPKG_REGISTRY (default 127.0.0.1:5000), which is also the
# registry the Configuration's dependency names. Output goes to OUT (default _output/).
#
#   hack/package.sh
#   PUSH=1 XPKG_REGISTRY=registry.example.org/acme VERSION=v0.2.0 hack/package.sh
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CACHE_DIR:-$ROOT/.cache}/bin
OUT=${OUT:-$ROOT/_output}
VERSION=${VERSION:-v0.1.0}
REGISTRY=${XPKG_REGISTRY:-127.0.0.1:5000}
ORG=crossplane-jitsi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
work=$(mktemp -d)
trap 'kill $registry_pid 2>/dev/null || true; rm -rf "$work"' EXIT
registry_pid=

"$ROOT/hack/tools.sh" crossplane crane
crane() { "$BIN/crane" --insecure "$@"; }

# crane assembles images in a registry: run a throwaway one on loopback.
for _ in $(seq 20); do
  port=$((20000 + RANDOM % 40000))
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || break # nothing listens there
done
"$BIN/crane" registry serve --address="127.0.0.1:$port" > "$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
kill -0 $registry_pid 2>/dev/null || { cat "$work/registry.log" >&2; exit 1; }
scratch=127.0.0.1:$port

# image NAME PACKAGE PORT: a static linux/amd64 image holding one binary, run as 65532.
image() {
  local name=$1 pkg=$2 exposed=$3 dir=$work/$1
  mkdir -p "$dir/rootfs"
  (cd "$ROOT" && CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags='-s -w' -o "$dir/rootfs/$name" "./$pkg")
  tar --owner=65532 --group=65532 --numeric-owner -C "$dir/rootfs" -cf "$dir/layer.tar" "$name"
  crane append --oci-empty-base -f "$dir/layer.tar" -t "$scratch/$name:base" > /dev/null
  # --set-platform: without it the config has no os/architecture, and runtimes refuse it.
  crane mutate "$scratch/$name:base" --entrypoint="/$name" --user=65532:65532 \
    --exposed-ports="$exposed/tcp" --set-platform=linux/amd64 -t "$scratch/$name:$VERSION" > /dev/null
  crane pull --format=tarball "$scratch/$name:$VERSION" "$OUT/$name-$VERSION-amd64.tar"
}

image function-jitsi fn 9443
image jitsi-nodescaler nodescaler/cmd/jitsi-nodescaler 8086
image jvb-deletion-cost deletioncost/cmd/jvb-deletion-cost 8080

# xpkg build would read ./examples as package examples; the packages carry none.
mkdir -p "$work/no-examples"
"$BIN/crossplane" xpkg build --package-root="$ROOT/package/function" --examples-root="$work/no-examples" \
  --embed-runtime-image-tarball="$OUT/function-jitsi-$VERSION-amd64.tar" -o "$OUT/function-jitsi-$VERSION.xpkg"

# The Configuration depends on the Function where it is pushed.
cp -r "$ROOT/package/configuration" "$work/configuration"
sed -i "s|package: 127.0.0.1:5000/$ORG/function-jitsi|package: $REGISTRY/$ORG/function-jitsi|" "$work/configuration/crossplane.yaml"
"$BIN/crossplane" xpkg build --package-root="$work/configuration" --examples-root="$work/no-examples" -o "$OUT/configuration-jitsi-$VERSION.xpkg"

if [ "${PUSH:-0}" = 1 ]; then
  "$BIN/crossplane" xpkg push -f "$OUT/function-jitsi-$VERSION.xpkg" "$REGISTRY/$ORG/function-jitsi:$VERSION"
  "$BIN/crossplane" xpkg push -f "$OUT/configuration-jitsi-$VERSION.xpkg" "$REGISTRY/$ORG/configuration-jitsi:$VERSION"
  crane push "$OUT/jitsi-nodescaler-$VERSION-amd64.tar" "$REGISTRY/$ORG/jitsi-nodescaler:$VERSION"
  crane push "$OUT/jvb-deletion-cost-$VERSION-amd64.tar" "$REGISTRY/$ORG/jvb-deletion-cost:$VERSION"
fi
ls -l "$OUT"
