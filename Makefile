# Agora. `make run` starts a one-machine cluster; `make test` runs every test.
GO      ?= go
BIN     := bin/agora
DATA    ?= $(HOME)/.agora/dev
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: build run test test-short bench deps vet clean

build:
	$(GO) build -o $(BIN) ./cmd/agora

run: build
	./$(BIN) dev --data-dir $(DATA)

# Installs what the tests need (a no-op when present), then runs them all.
test: deps vet
	$(GO) test -count=1 -timeout 30m ./...

test-short:
	$(GO) test -short -count=1 ./...

vet:
	$(GO) vet ./...

bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x -timeout 60m ./core/allocator/
	$(GO) test -run '^$$' -bench Deploy1000 -benchtime 3x -timeout 20m ./frameworks/services/

deps:
	./deploy/deps.sh

clean:
	rm -rf bin
