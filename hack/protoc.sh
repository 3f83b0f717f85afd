#!/usr/bin/env bash
# protoc.sh regenerates nodescaler/externalgrpc from its .proto with pinned plugins
# (protoc-gen-go and protoc-gen-go-grpc, built by hack/tools.sh). protoc itself comes from the
# system (Debian: apt-get install protobuf-compiler).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CACHE_DIR:-$ROOT/.cache}/bin
command -v protoc > /dev/null || { echo "protoc is missing: apt-get install protobuf-compiler" >&2; exit 1; }
"$ROOT/hack/tools.sh" protoc-gen
cd "$ROOT/nodescaler/externalgrpc"
PATH="$BIN:$PATH" protoc -I . \
  --go_out=. --go_opt=paths=source_relative \
  --go-grpc_out=. --go-grpc_opt=paths=source_relative \
  externalgrpc.proto
