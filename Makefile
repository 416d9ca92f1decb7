# hb — build, test, run, package. `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
BIN := bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo 0.0.0-dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
FUZZTIME ?= 1m

.PHONY: help deps build test test-short race fuzz bench generate lint run package package-test clean tools

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t16

build: ## build bin/hb-probe and bin/hb-responder (static, no cgo)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

test: deps lint ## everything: unit, privileged (namespaces, raw sockets, eBPF) when root, then -race on the unprivileged tests
	$(GO) test -count=1 -timeout 20m ./...
	$(GO) test -race -short -count=1 -timeout 15m ./...

deps: ## as root: install the Debian packages the tests use if any is missing (else just say which)
	@if [ "$$(id -u)" = 0 ]; then scripts/install-deps.sh; else scripts/install-deps.sh --check; fi

test-short: ## unprivileged tests only (privileged ones skip with -short)
	$(GO) test -short -count=1 ./...

race: ## the race detector over every unprivileged test
	$(GO) test -race -short -count=1 ./...

fuzz: ## run every fuzz target for FUZZTIME (default 1m) each
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

bench: build ## benchmarks: Go micro-benchmarks, then the simulated fleet (root)
	@if [ "$$(id -u)" = 0 ]; then HB_WITH_BENCH=1 scripts/install-deps.sh; fi
	$(GO) test -run '^$$' -bench . -benchmem ./wire/... ./state/... ./store/... ./api/... ./bpf/... ./prober/... ./oneshot/...
	@if [ -x bench/run.sh ]; then bench/run.sh; fi

generate: ## regenerate the eBPF objects with bpf2go (needs clang and libbpf-dev)
	$(GO) generate ./bpf/...

lint: ## gofmt, go vet, and a cross-compile vet for darwin
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	GOOS=darwin $(GO) vet ./...

run: build ## the main job: hb-responder on loopback, hb-probe against it, API on 127.0.0.1:8787
	scripts/run-local.sh

package: build ## build .deb and .rpm packages into dist/
	packaging/build.sh

package-test: ## install, verify and remove the packages in a Debian chroot
	packaging/test.sh

tools: ## install the Debian packages the tests and benchmarks use (root)
	scripts/install-deps.sh

clean:
	rm -rf $(BIN) dist
