# Cohort. `make run` builds and starts the server with a demo workspace;
# `make test` is what CI runs (.ci/run).

SHELL       := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

GO       ?= go
BIN      ?= bin/cohort
PKG      := ./cmd/cohort
VERSION  ?= $(shell git describe --tags --dirty 2>/dev/null || echo dev)
COMMIT   ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)$(shell git status --porcelain 2>/dev/null | grep -q . && echo -dirty)
LDFLAGS  := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
RUN_ARGS ?=
# Arguments of the bench command (bench/compare); see bench/README.md.
BENCH_ARGS ?= -profiles 10000000 -events 100000000
FUZZTIME ?= 30s

.PHONY: all build run test lint vet fmt-check generate generate-check bench fuzz clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) $(PKG)

run: build
	./$(BIN) serve --demo=true $(RUN_ARGS)

test: fmt-check vet
	$(GO) test -race -count=1 -timeout 20m ./...

lint: fmt-check vet

fmt-check:
	@out="$$(gofmt -l .)"; if [ -n "$$out" ]; then \
		echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# Regenerates api/ (protoc + plugins at the versions pinned in api/gen.sh,
# installed into bin/tools; protoc: apt-get install protobuf-compiler),
# then runs go generate.
generate:
	api/gen.sh --install
	$(GO) generate ./...

# Fails if the committed api/ code differs from a fresh generation, or if
# a pinned tool is missing (instead of skipping as plain `make test` does).
generate-check:
	api/gen.sh --install -o "$$(mktemp -d)"
	COHORT_REQUIRE_GENERATE=1 $(GO) test -count=1 -run '^TestGeneratedFresh$$' ./api/

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./engine/...
	cd bench/compare && $(GO) run . $(BENCH_ARGS)

# Runs every fuzz target of the main module for FUZZTIME each.
fuzz:
	@targets="$$($(GO) test -list '^Fuzz' ./... | awk '/^Fuzz/ { t[n++] = $$1 } /^ok / { for (i = 0; i < n; i++) print $$2, t[i]; n = 0 }')"; \
	if [ -z "$$targets" ]; then echo "no fuzz targets"; exit 0; fi; \
	echo "$$targets" | while read -r pkg target; do \
		echo "== $$pkg $$target ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) "$$pkg"; \
	done

clean:
	rm -rf bin/
	find . -name '*.test' -type f -not -path './.git/*' -delete
	rm -f *.out *.prof *.pprof
