# The two commands a new user needs: `make run` and `make test`. Both install what they need
# (pinned Python tools in .venv) on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
# Reinstall the tools whenever the pinned list changes.
TOOLS := $(VENV)/.tools-$(shell cksum requirements-dev.txt | cut -d' ' -f1)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run run-sam sweep-xero test tools lint deny routes unit e2e contract template sam sam-invoke sam-start-api \
	sam-build package bloat coldstart bench clean

run: $(TOOLS)
	scripts/run-local.sh

# The port of `make run`'s API (scripts/run-local.sh: API_PORT, 9000 unless set).
API_PORT ?= 9000

# One sweep of Xero's changes (sweep-xero-changes, every 15 minutes on its EventBridge schedule
# when deployed) against the `make run` stack, run on demand: its pulls go to the pull queue, which
# `make run` delivers to pull-from-xero. `API_PORT=9100 make sweep-xero` for a stack on 9100.
sweep-xero: $(TOOLS)
	PATH="$$PWD/.venv/bin:$$PATH" cargo lambda invoke sweep-xero-changes --data-file events/sweep-xero-changes.json \
	  --invoke-address 127.0.0.1 --invoke-port $(API_PORT)

# The API under SAM's own emulator instead of `cargo lambda watch` (port SAM_PORT, 3000).
run-sam: $(TOOLS)
	cargo build --quiet --workspace --bins
	$(VENV)/bin/python scripts/sam_local.py start-api $${SAM_PORT:-3000}

test: $(TOOLS) lint deny routes unit e2e contract template sam

tools: $(TOOLS)

$(TOOLS): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.tools-* && touch $@

# Formatting, clippy with the workspace's lints, one feature set for all of make test's builds (so
# that they share compiled crates: scripts/check_build_features.py), and the domain crate's layers
# (no cycle, and each layer using only those below it: docs/design.md, "Layers").
lint:
	cargo fmt --all --check
	$(PYTHON) scripts/check_build_features.py
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	$(PYTHON) scripts/module_cycles.py shared/domain/src
	$(PYTHON) scripts/check_layers.py shared/domain/src

# Dependencies: licenses, bans and sources (deny.toml). Advisories need a database this machine
# cannot reach, so they are not checked here.
deny: $(TOOLS)
	cargo deny --log-level warn check bans licenses sources

# The one list of routes (each function's manifest) against the router, template, OpenAPI file,
# events/ and README.
routes: $(TOOLS)
	$(VENV)/bin/python -m pytest -q tests/routes_agree.py

# Unit, in-process handler and adapter tests; each adapter test starts its own moto_server.
unit: $(TOOLS)
	if cargo nextest --version >/dev/null 2>&1; then \
	  cargo nextest run --workspace --exclude end-to-end-tests --no-fail-fast; \
	else \
	  cargo test --workspace --exclude end-to-end-tests --no-fail-fast; \
	fi

# HTTP tests through `cargo lambda watch` (one stack per run, on free ports). `--workspace --test api`
# (the one test named api, tests/api) rather than `-p end-to-end-tests`: the same package selection
# as `unit`, so the same features and the dependencies `unit` compiled (docs/performance.md,
# "make test: where the time goes").
e2e: $(TOOLS)
	cargo test --workspace --test api

# schemathesis: the running API against openapi.yaml (its own stack, on free ports).
contract: $(TOOLS)
	scripts/contract_test.sh

template: $(TOOLS)
	cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 sam validate --lint --template template.yaml --region us-east-1

# SAM's own Lambda emulator (tests/sam, scripts/sam_local.py): Docker is installed and started if
# need be (apt-get, dockerd; stopped again afterwards), the Lambda base image built here if missing,
# then every function runs its events/ file under `sam local invoke` (sam-invoke) and every route
# answers through `sam local start-api` (sam-start-api). Where Docker cannot be made available, the
# run prints why and skips these tests (pytest -rs shows the reason).
SAM_TESTS = $(VENV)/bin/python -m pytest -q -rs -p no:cacheprovider
sam: $(TOOLS)
	cargo build --quiet --workspace --bins
	$(SAM_TESTS) tests/sam

sam-invoke: $(TOOLS)
	cargo build --quiet --workspace --bins
	$(SAM_TESTS) tests/sam/test_sam_invoke.py

sam-start-api: $(TOOLS)
	cargo build --quiet --workspace --bins
	$(SAM_TESTS) tests/sam/test_sam_start_api.py

# `sam build` of template.yaml, as a deployer runs it: `cargo lambda build --release --arm64` per
# function (BuildMethod rust-cargolambda) into .aws-sam/build; then `sam deploy --guided` (README).
sam-build: $(TOOLS)
	SAM_CLI_TELEMETRY=0 sam build --template template.yaml
	@for b in .aws-sam/build/*Function/bootstrap; do printf '%-40s %10d bytes\n' "$$b" "$$(stat -c %s "$$b")"; done

# Release builds of every function under functions/ (and nothing else) for Lambda (arm64), as SAM's
# rust-cargolambda build does; a function's package, binary and folder share its name.
package: $(TOOLS)
	cargo lambda build --release --arm64 $(patsubst functions/%/Cargo.toml,-p %,$(wildcard functions/*/Cargo.toml))
	@for f in $(patsubst functions/%/Cargo.toml,%,$(wildcard functions/*/Cargo.toml)); do \
	  b="$${CARGO_TARGET_DIR:-target}/lambda/$$f/bootstrap"; \
	  test -f "$$b" || { echo "missing $$b" >&2; exit 1; }; \
	  size=$$(stat -c %s "$$b"); \
	  printf '%-30s %10d bytes  %d.%02d MB  %s\n' "$$f" "$$size" $$((size / 1000000)) $$((size / 10000 % 100)) \
	    "$$( [ "$$size" -le 4000000 ] && echo 'within the 4 MB goal' || echo 'OVER the 4 MB goal')"; \
	done

# What each crate contributes to a function's release build (cargo-bloat, pinned in
# requirements-dev.txt), e.g. `make bloat FUNCTION=get-invoice`. It measures this machine's target
# (x86_64): cargo-bloat needs symbols, and cargo-lambda's cross-linking for arm64 is not available
# to it; the crates' shares are much the same on both.
FUNCTION ?= reconcile-worker
bloat: $(TOOLS)
	CARGO_PROFILE_RELEASE_STRIP=false cargo bloat --release -p $(FUNCTION) --bin $(FUNCTION) --crates -n 30

# Benchmarks (not part of `make test`), each printing its figures beside its baseline from the same
# run (docs/performance.md): totals against the code before #14 and Python's decimal; cold start
# and peak RSS of every function against bench/hello-world; every function's arm64 bootstrap
# against 4 MB; an all-invoices reconcile of 100 to 100,000 invoices in moto against a Xero double
# with Xero's page sizes (RECONCILE_BENCH_SIZES=100,1000 for fewer).
bench: $(TOOLS)
	$(PYTHON) bench/totals_vs_python.py
	$(PYTHON) scripts/coldstart.py --runs 9
	$(MAKE) --no-print-directory package
	cargo bench -p reconcile-worker --bench reconcile_at_scale
	$(VENV)/bin/python bench/webhook_latency.py

# Cold start (process start to first response, peak RSS) of every function's release build for
# this machine, against bench/hello-world; median of 9 rounds. See docs/performance.md.
coldstart:
	$(PYTHON) scripts/coldstart.py --runs 9

clean:
	cargo clean
	rm -rf $(VENV) .local
