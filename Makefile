# Skybridge — the front door. `make run` serves on embedded defaults;
# `make test` runs every test (installing redis-server when missing, as root).
GO          ?= go
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
PKGS        := ./...

.PHONY: all build run test test-full bench lint deps clean web web-check web-e2e screenshots

all: build

build:
	$(GO) build -o bin/skybridge ./cmd/skybridge

## run: serve with zero configuration (SQLite in ./data, in-process cache, :8080)
run:
	$(GO) run ./cmd/skybridge serve

deps:
	@./scripts/ensure-deps.sh

## test: all tests with the race detector; long property/soak runs are shortened (-short)
test: deps
	REQUIRE_TEST_TOOLS=1 $(GO) test -race -short -count=1 -timeout 20m $(PKGS)

## test-full: the same with long property, soak and load runs at full length, and
## the SQL connector against a throwaway PostgreSQL (scripts/postgres-test.sh)
test-full: deps
	@./scripts/ensure-deps.sh postgresql
	REQUIRE_TEST_TOOLS=1 ./scripts/postgres-test.sh $(GO) test -race -count=1 -timeout 80m $(PKGS)

## bench: store and HTTP benchmarks beside a bare chi baseline, as ratios
bench: deps
	@./scripts/bench.sh

## lint: gofmt, go vet, staticcheck
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) run $(STATICCHECK) $(PKGS)

## web: rebuild the admin portal (web/src → web/dist, which is committed and
## embedded, so go build and make run need no Node)
web:
	@./scripts/ensure-deps.sh web
	cd web && npm run build

## web-check: fail when web/dist is not what web/src builds to
web-check: web
	@git diff --quiet -- web/dist && test -z "$$(git ls-files --others --exclude-standard web/dist)" || { echo "web/dist is stale: commit the output of make web"; git status --short web/dist; exit 1; }

## web-e2e: the portal's browser tests alone (make test runs them too)
web-e2e: deps
	$(GO) test -count=1 -v -run TestPortalInBrowser ./web/e2e

## screenshots: the browser tests, saving each page into docs/screenshots
screenshots: deps
	PORTAL_SCREENSHOTS=$(CURDIR)/docs/screenshots $(GO) test -count=1 -run TestPortalInBrowser ./web/e2e

clean:
	rm -rf bin
