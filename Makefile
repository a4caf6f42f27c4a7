# One way to check everything: `make check test` (what CI runs).
SHELL := /bin/bash
GO ?= go
GOBIN := $(shell $(GO) env GOPATH)/bin
export PATH := $(GOBIN):$(PATH)

VERSITYGW_VERSION := v1.8.0
RIE_VERSION       := v0.0.0-20261030222936-bef5c4ba774d
STATICCHECK_VERSION := v0.8.2
FUZZTIME ?= 10s
LDFLAGS := -s -w
BUILD := CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags '$(LDFLAGS)'

.PHONY: all tools check test fuzz build build-ManifestFunction demo bench clean

all: check test

## tools: install the local stack (dynalite from npm, versitygw, the Lambda emulator) and staticcheck.
tools: node_modules/.installed $(GOBIN)/versitygw $(GOBIN)/aws-lambda-rie $(GOBIN)/staticcheck

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

$(GOBIN)/versitygw:
	$(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

$(GOBIN)/aws-lambda-rie:
	$(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

$(GOBIN)/staticcheck:
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

## check: vet, staticcheck, gofmt, go.mod tidy, cfn-lint.
check: $(GOBIN)/staticcheck
	$(GO) vet ./...
	staticcheck ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) mod tidy -diff
	cfn-lint template.yaml $(wildcard examples/*.yaml)

## test: every test, with the race detector, against the real local stack; then the fuzz targets briefly.
test: tools
	$(GO) test -race -count=1 ./...
	$(MAKE) fuzz

## fuzz: run each fuzz target for FUZZTIME (default 10s). A run that fails with only
## "context deadline exceeded" and writes no failing input is Go 1.26's -fuzztime race
## (golang/go#75804, fixed in Go 1.27), not a finding: that target runs once more.
fuzz:
	@set -e; log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    if $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg >$$log 2>&1; then cat $$log; \
	    elif cat $$log; grep -q 'context deadline exceeded' $$log && ! grep -q 'Failing input written' $$log; then \
	      echo "fuzz $$f: the -fuzztime deadline race (golang/go#75804), no failing input written: once more"; \
	      $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	    else exit 1; fi; \
	  done; \
	done

## build: the bootstrap binary for both Lambda architectures.
build:
	GOOS=linux GOARCH=arm64 $(BUILD) -o bin/linux-arm64/bootstrap ./cmd/manifest
	GOOS=linux GOARCH=amd64 $(BUILD) -o bin/linux-amd64/bootstrap ./cmd/manifest
	@ls -l bin/*/bootstrap

## build-ManifestFunction: what `sam build` runs (BuildMethod: makefile).
build-ManifestFunction:
	GOOS=linux GOARCH=arm64 $(BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./cmd/manifest

## demo: the whole job end to end on a local stack, no AWS account needed.
demo: tools
	$(GO) run ./cmd/demo

## bench: Go benchmarks, then the driver's whole-run figures (docs/performance.md). Needs `make tools` for the end-to-end row.
bench: tools
	$(GO) test -run '^$$' -bench . -benchmem ./internal/lines/ ./internal/query/ ./internal/upload/ ./cmd/benchdriver/internal/bench/
	$(GO) run ./cmd/benchdriver -items 10000,100000,1000000 -warm-items 10000,1000000 -https-items 100000 -pipeline-pages 100 -slow-s3-items 1000000 -e2e-items 5000 -coldstart \
		-rich-items 100000 -range-pages 200 -range-rows uniform,skewed,one-page,string,binary

clean:
	rm -rf bin
