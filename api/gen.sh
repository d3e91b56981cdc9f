#!/usr/bin/env bash
# Regenerates api/'s Go code and OpenAPI files from its protos with pinned
# tool versions. `make generate` runs it with --install; the freshness test
# (api/generate_test.go) runs it with -o into a temporary directory and
# compares the result with the committed files byte for byte.
#
#   api/gen.sh [--install] [-o OUT]
#
# --install  go install the pinned plugins into bin/tools first (needs the
#            module cache or the module proxy).
# -o OUT     write the generated files under OUT instead of api/.
#
# Tools are looked up in bin/tools, then PATH. Exit status 3: a tool is
# missing or not at its pinned version (the message says which).
set -euo pipefail

PROTOC_VERSION="libprotoc 3.21.12" # Debian bookworm: apt-get install protobuf-compiler
PROTOC_GEN_GO=v1.36.12
PROTOC_GEN_GO_GRPC=1.6.0
GRPC_GATEWAY=v2.33.0

api="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$api")"
tools="$root/bin/tools"
out="$api"
install=0
while [ $# -gt 0 ]; do
	case "$1" in
	--install) install=1 ;;
	-o) out="$(cd "$2" && pwd)"; shift ;;
	*) echo "gen.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done

if [ "$install" = 1 ]; then
	mkdir -p "$tools"
	GOBIN="$tools" GOFLAGS=-mod=mod go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO"
	GOBIN="$tools" GOFLAGS=-mod=mod go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@v$PROTOC_GEN_GO_GRPC"
	GOBIN="$tools" GOFLAGS=-mod=mod go install \
		"github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-grpc-gateway@$GRPC_GATEWAY" \
		"github.com/grpc-ecosystem/grpc-gateway/v2/protoc-gen-openapiv2@$GRPC_GATEWAY"
fi
export PATH="$tools:$PATH"

# need TOOL WANT: TOOL --version must contain WANT.
need() {
	local got
	if ! command -v "$1" >/dev/null 2>&1; then
		echo "gen.sh: $1 not found (want $2; run make generate, or apt-get install protobuf-compiler for protoc)" >&2
		exit 3
	fi
	got="$("$1" --version 2>&1 | head -n 1)"
	case "$got" in
	*"$2"*) ;;
	*) echo "gen.sh: $1 is \"$got\", want $2" >&2; exit 3 ;;
	esac
}
need protoc "$PROTOC_VERSION"
need protoc-gen-go "$PROTOC_GEN_GO"
need protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC"
need protoc-gen-grpc-gateway "Version $GRPC_GATEWAY,"
need protoc-gen-openapiv2 "Version $GRPC_GATEWAY,"

cd "$api"
for dir in ingest/v1; do
	mkdir -p "$out/$dir"
	protoc -I . \
		--go_out="$out" --go_opt=paths=source_relative \
		--go-grpc_out="$out" --go-grpc_opt=paths=source_relative \
		--grpc-gateway_out="$out" --grpc-gateway_opt=paths=source_relative \
		--grpc-gateway_opt=grpc_api_configuration="$dir/ingest.yaml" \
		--openapiv2_out="$out" \
		--openapiv2_opt=grpc_api_configuration="$dir/ingest.yaml" \
		"$dir"/*.proto
done
