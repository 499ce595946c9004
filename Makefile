# Agora. `make run` starts a one-machine cluster; `make test` runs every test.
GO      ?= go
BIN     := bin/agora
DATA    ?= $(HOME)/.agora/dev
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: build run test test-short bench deps vet clean fuzz

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
	$(GO) test -run '^$$' -bench FireJitter -benchtime 2x -timeout 20m ./frameworks/cron/

# Runs every fuzz target for FUZZTIME each (go test -fuzz takes one target
# per run); seeds and past crashers live in each package's testdata/fuzz.
FUZZTIME ?= 10s
FUZZ_TARGETS := \
	./core/recordio:FuzzRead ./core/recordio:FuzzRoundTrip \
	./core/resources:FuzzParse \
	./core/master:FuzzSchedulerCall ./core/master:FuzzOperatorCall ./core/master:FuzzAgentCall \
	./core/authn:FuzzParseCredentials ./core/acl:FuzzParseACLs ./core/ratelimit:FuzzParse \
	./frameworks/services/app:FuzzParseValidate ./frameworks/cron/job:FuzzParse \
	./frameworks/services/placement:FuzzParse
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "== $$name in $$pkg"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

deps:
	./deploy/deps.sh

clean:
	rm -rf bin
