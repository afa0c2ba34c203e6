# The two commands a new user needs: `make run` and `make test`. Both install what they need
# (pinned Python tools in .venv) on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
# Reinstall the tools whenever the pinned list changes.
TOOLS := $(VENV)/.tools-$(shell cksum requirements-dev.txt | cut -d' ' -f1)
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run test tools lint unit e2e template package clean

run: $(TOOLS)
	scripts/run-local.sh

test: $(TOOLS) lint unit e2e template

tools: $(TOOLS)

$(TOOLS): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.tools-* && touch $@

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings

# Unit, in-process handler and adapter tests; each adapter test starts its own moto_server.
unit: $(TOOLS)
	if cargo nextest --version >/dev/null 2>&1; then \
	  cargo nextest run --workspace --exclude end-to-end-tests --no-fail-fast; \
	else \
	  cargo test --workspace --exclude end-to-end-tests --no-fail-fast; \
	fi

# HTTP tests through `cargo lambda watch` (one stack per run, on free ports).
e2e: $(TOOLS)
	cargo test -p end-to-end-tests

template: $(TOOLS)
	cfn-lint template.yaml

# Release builds of every function for Lambda (arm64), as SAM's rust-cargolambda build does.
package: $(TOOLS)
	cargo lambda build --release --arm64 --workspace --exclude invoicing-admin --exclude end-to-end-tests --exclude invoicing-test-support
	@for f in target/lambda/*/bootstrap; do printf '%-40s %8d bytes\n' "$$f" "$$(stat -c %s "$$f")"; done

clean:
	cargo clean
	rm -rf $(VENV) .local
