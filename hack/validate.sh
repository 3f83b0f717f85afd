#!/usr/bin/env bash
# validate.sh checks every example offline with `crossplane resource validate`: the claims
# against the claim CRD the XRD defines, and each rendered composition (the XR and every
# composed object) against the XRD and the native Kubernetes schemas.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CACHE_DIR:-$ROOT/.cache}/bin
XRD=package/configuration/xrd.yaml
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cd "$ROOT"

for xr in examples/xr.yaml examples/xr-static.yaml examples/xr-timetable.yaml; do
  name=$(basename "$xr" .yaml)
  hack/render.sh "$xr" --xrd="$XRD" -x > "$out/$name.yaml"
done
hack/render.sh examples/xr.yaml --xrd="$XRD" -x -o examples/observed.yaml > "$out/xr-observed.yaml"

# --crossplane-image= keeps validate offline: it would otherwise pull the core image.
"$BIN/crossplane" resource validate "$XRD" \
  "examples/claim.yaml,examples/claim-static.yaml,examples/claim-timetable.yaml,$out/xr.yaml,$out/xr-static.yaml,$out/xr-timetable.yaml,$out/xr-observed.yaml" \
  --crossplane-image= --cache-dir=.cache/xpkg
