# grain — two commands on a fresh machine (Debian, Go 1.26):
#   make demo   runs grain's main job on its embedded default
#   make test   runs the whole test suite
# Both install what they need first (Go modules; OpenBLAS from Debian when
# absent and when run as root — without it grain falls back to pure-Go BLAS).

GO      ?= go
BIN     := build/grain
FUZZTIME ?= 20s

.PHONY: all deps build demo test vet fuzz bench clean

all: build

deps:
	@./.ci/deps.sh
	@$(GO) mod download

build: deps
	$(GO) build -o $(BIN) ./cmd/grain

demo: build
	./$(BIN) demo

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

# The suite runs once with OpenBLAS and once on the pure-Go fallback path
# (GRAIN_OPENBLAS=off) for the engine, and once without cgo (Go kernels).
test: deps vet
	$(GO) test -count=1 ./...
	GRAIN_OPENBLAS=off $(GO) test -count=1 ./engine/... ./analysis/probe/
	CGO_ENABLED=0 $(GO) test -count=1 ./kernels/ ./engine/cpu/ ./analysis/probe/
	CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/grain

# Short runs of every fuzz target (FUZZTIME each).
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 3x ./engine/cpu/
	$(GO) run ./bench/probe

clean:
	rm -rf build
