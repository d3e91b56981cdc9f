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
# Every API package, each with its protos and its REST mapping <name>.yaml.
dirs=(ingest/v1 profile/v1 segment/v1)

# protoc plugins take one grpc_api_configuration file: concatenate the
# rules of every package's YAML into one (the part after "  rules:").
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
http="$tmp/http.yaml"
printf 'type: google.api.Service\nconfig_version: 3\nhttp:\n  rules:\n' >"$http"
protos=()
for dir in "${dirs[@]}"; do
	mkdir -p "$out/$dir"
	for y in "$dir"/*.yaml; do
		sed -n '/^  rules:/,$p' "$y" | tail -n +2 >>"$http"
	done
	protos+=("$dir"/*.proto)
done

# One run: Go messages, gRPC stubs and gateway handlers beside each proto,
# and one OpenAPI document for every service (cohort.swagger.json, served
# at /openapi.json).
protoc -I . \
	--go_out="$out" --go_opt=paths=source_relative \
	--go-grpc_out="$out" --go-grpc_opt=paths=source_relative \
	--grpc-gateway_out="$out" --grpc-gateway_opt=paths=source_relative \
	--grpc-gateway_opt=grpc_api_configuration="$http" \
	--openapiv2_out="$out" \
	--openapiv2_opt=grpc_api_configuration="$http" \
	--openapiv2_opt=allow_merge=true,merge_file_name=cohort \
	--openapiv2_opt=openapi_configuration=openapi.yaml \
	"${protos[@]}"
