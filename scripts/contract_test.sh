#!/usr/bin/env bash
# `make contract`: checks the running API against openapi.yaml with schemathesis, on a local stack
# of its own (scripts/local-stack.sh, as `make run`) on free loopback ports, stopped on exit.
# Exits non-zero on any failure, on any warning that generated data did not reach a handler, and
# when fewer than MIN_CASES (default 5000) cases ran. MAX_EXAMPLES (default 200) bounds the examples
# per operation and phase; ST_EXTRA_ARGS adds options to `st run` (e.g. `--include-path /invoices`).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
MAX_EXAMPLES="${MAX_EXAMPLES:-200}"
MIN_CASES="${MIN_CASES:-5000}"

work=$(mktemp -d "${TMPDIR:-/tmp}/contract-test.XXXXXX")
finish() {
  local status=$?
  trap - EXIT INT TERM
  [ -n "${st_pid:-}" ] && kill -TERM -- "-$st_pid" 2>/dev/null || true
  if [ "$status" -ne 0 ]; then
    # CI keeps only the end of the output: what the stack logged before it was stopped (stopping
    # adds cargo lambda watch's own noise), so that a failure can be told apart: a function's
    # errors, one that ended ("command exited"), or moto's last requests and their times.
    if [ -f "$work/api.log" ]; then
      echo "--- errors in api.log (last 12)" >&2
      grep -E '"level":"ERROR"|ERROR|panicked|command (exited|killed)' "$work/api.log" | tail -n 12 | cut -c1-400 >&2 || true
    fi
    [ -f "$work/moto.log" ] && { echo "--- last lines of moto.log" >&2; tail -n 4 "$work/moto.log" | cut -c1-300 >&2; }
  fi
  scripts/local-stack.sh stop "$work"
  if [ "$status" -ne 0 ]; then
    echo "contract test failed; logs in $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap finish EXIT
trap 'exit 130' INT TERM

# The same stack as `make run`, on free ports, without the worker consuming the reconcile queue
# (the contract run checks HTTP answers only).
STACK_NAME=contract SQS_TRIGGER=0 RUST_LOG=warn scripts/local-stack.sh start "$work"
set -a; . "$work/stack.env"; . "$work/dev-account.env"; set +a

echo "==> schemathesis against openapi.yaml (at most $MAX_EXAMPLES examples per operation)"
# In its own process group, so that the trap stops it too. One worker: the stack serves one request
# per function at a time anyway, and with two or four workers hypothesis (on Python 3.11) hit "AST
# constructor recursion depth mismatch" while generating, even with its ast.parse calls serialized
# (docs/performance.md). scripts/contract_hooks.py gives generated requests real resources and
# leaves out what only the local emulator cannot carry. A request that fails at the network level is
# sent once more: cargo lambda watch never answers an invocation whose function lost its connection
# to the emulated Runtime API before posting the answer (the function itself carries on:
# invoicing_http::run_restarting); an answer, whatever its status, is never retried.
SCHEMATHESIS_HOOKS="$PWD/scripts/contract_hooks.py" setsid st --config-file scripts/schemathesis.toml \
  run openapi.yaml --url "http://127.0.0.1:$API_PORT" \
  --auth "$CLIENT_ID:$CLIENT_SECRET" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,negative_data_rejection \
  --mode all \
  --max-examples "$MAX_EXAMPLES" \
  --seed "${SEED:-20261125}" \
  --generation-database none \
  --request-timeout 120 \
  --request-retries 1 \
  --workers "${WORKERS:-1}" \
  --no-color \
  --report json --report-json-path "$work/report.json" \
  ${ST_EXTRA_ARGS:-} &
st_pid=$!
wait "$st_pid"

# The run passed; check that it was as large as it should be and reached the handlers.
python - "$work/report.json" "$MIN_CASES" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
cases = report["test_cases"]
warned = {kind: operations for kind, operations in report["warnings"].items() if operations}
print(f"schemathesis: {cases['generated']} cases, {cases['with_failures']} with failures, "
      f"{cases['errored']} errored, warnings: {warned or 'none'}")
phases = {}
for rates in report["valid_rates"].values():
    for phase, counts in rates.items():
        phases[phase] = phases.get(phase, 0) + sum(counts.values())
print("answered 2xx/4xx per phase:", phases)
if cases["generated"] < int(sys.argv[2]) or cases["with_failures"] or cases["errored"] or warned:
    sys.exit(f"contract run below the bar: at least {sys.argv[2]} cases, no failure, no warning")
PY
