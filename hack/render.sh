#!/usr/bin/env bash
# render.sh renders an example with the real Crossplane CLI, the way a platform engineer would:
# it builds function-jitsi, runs it on loopback for the length of the render, and calls
# `crossplane composition render` with the locally built render engine (no Docker).
#
#   hack/render.sh examples/xr.yaml --xrd=package/configuration/xrd.yaml
#   hack/render.sh examples/xr.yaml --xrd=package/configuration/xrd.yaml -o examples/observed.yaml
#
# Every argument after the XR goes to `crossplane composition render`.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CACHE_DIR:-$ROOT/.cache}/bin
PORT=${FUNCTION_PORT:-9443}
xr=${1:?usage: $0 XR [render flags...]}
shift

"$ROOT/hack/tools.sh" crossplane crossplane-core
(cd "$ROOT" && go build -o "$BIN/function-jitsi" ./fn)

"$BIN/function-jitsi" --insecure --address="127.0.0.1:$PORT" --metrics-address= 2> "$BIN/../function-jitsi.log" &
fn_pid=$!
trap 'kill $fn_pid 2>/dev/null || true; wait $fn_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  kill -0 $fn_pid 2>/dev/null || { cat "$BIN/../function-jitsi.log" >&2; exit 1; }
  sleep 0.1
done

cd "$ROOT"
"$BIN/crossplane" composition render "$xr" examples/composition.yaml examples/functions.yaml \
  --crossplane-binary="$BIN/crossplane-core" \
  -a "render.crossplane.io/runtime-development-target=127.0.0.1:$PORT" "$@"
