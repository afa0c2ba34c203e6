#!/usr/bin/env bash
# `make contract`: checks the running API against openapi.yaml with schemathesis. Starts its own
# local stack (moto_server, the table and queue, a development account, `cargo lambda watch`) on
# free loopback ports, like scripts/run-local.sh, and stops everything it started on exit.
# Exits non-zero on any failure, on any warning that generated data did not reach a handler, and
# when fewer than MIN_CASES (default 5000) cases ran. MAX_EXAMPLES (default 200) bounds the examples
# per operation and phase; ST_EXTRA_ARGS adds options to `st run` (e.g. `--include-path /invoices`).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
MAX_EXAMPLES="${MAX_EXAMPLES:-200}"
MIN_CASES="${MIN_CASES:-5000}"

work=$(mktemp -d "${TMPDIR:-/tmp}/contract-test.XXXXXX")
started=()
stop_all() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${started[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  sleep 1
  for pid in "${started[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  if [ "$status" -ne 0 ]; then
    echo "contract test failed; logs in $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap stop_all EXIT
trap 'exit 130' INT TERM

free_port() {
  python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_port() {
  local port=$1 name=$2
  for _ in $(seq 1 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "error: $name did not listen on 127.0.0.1:$port" >&2
  return 1
}

echo "==> building the functions and the admin tool"
cargo build --quiet --workspace --bins

MOTO_PORT=$(free_port)
API_PORT=$(free_port)
while [ "$API_PORT" = "$MOTO_PORT" ]; do API_PORT=$(free_port); done

echo "==> moto_server (DynamoDB, SQS) on 127.0.0.1:$MOTO_PORT"
setsid python scripts/serialized_moto.py -H 127.0.0.1 -p "$MOTO_PORT" >"$work/moto.log" 2>&1 &
started+=($!)
wait_for_port "$MOTO_PORT" moto_server

cat >"$work/stack.env" <<ENV
AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=local
AWS_SECRET_ACCESS_KEY=local
TABLE_NAME=invoicing-contract
QUEUE_NAME=reconcile-requests-contract
DLQ_NAME=reconcile-requests-contract-dlq
QUEUE_URL=http://127.0.0.1:$MOTO_PORT/123456789012/reconcile-requests-contract
SECRETS_PREFIX=invoicing-contract
MAX_RECEIVE_COUNT=5
RUST_LOG=warn
ENV
set -a; . "$work/stack.env"; set +a

admin="$TARGET_DIR/debug/invoicing-admin"
"$admin" init-local
events_api_key=$(python -c 'import json; print(json.load(open("events/create-invoice.json"))["headers"]["x-api-key"])')
"$admin" create-account --name Contract --api-key "$events_api_key" >"$work/account.env"
# shellcheck disable=SC1091
. "$work/account.env"
"$admin" set-receiving-account --client-id "$CLIENT_ID" \
  --name "Contract operating account" --account-number 000123456789 --routing-number 021000021
# A Xero connection, so that reconcile-with-integration accepts jobs (nothing consumes the queue here).
XERO_CLIENT_SECRET=contract-secret "$admin" connect-xero --client-id "$CLIENT_ID" --xero-client-id contract \
  --api-base-url "http://127.0.0.1:9/xero" --token-url "http://127.0.0.1:9/xero/token"

echo "==> API on http://127.0.0.1:$API_PORT"
setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$API_PORT" --ignore-changes \
  --env-file "$work/stack.env" >"$work/watch.log" 2>&1 &
started+=($!)
wait_for_port "$API_PORT" "cargo lambda watch"

echo "==> schemathesis against openapi.yaml (at most $MAX_EXAMPLES examples per operation)"
# In its own process group too, so that the trap stops it as well; `wait` gives its exit status.
# One worker: the stack serves one request per function at a time anyway, and with two workers
# hypothesis (on Python 3.11) hit "AST constructor recursion depth mismatch" while generating.
# scripts/contract_hooks.py leaves out what only the local emulator cannot carry (see there).
SCHEMATHESIS_HOOKS="$PWD/scripts/contract_hooks.py" setsid st --config-file scripts/schemathesis.toml \
  run openapi.yaml --url "http://127.0.0.1:$API_PORT" \
  --auth "$CLIENT_ID:$CLIENT_SECRET" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,negative_data_rejection \
  --mode all \
  --max-examples "$MAX_EXAMPLES" \
  --seed "${SEED:-20261125}" \
  --generation-database none \
  --request-timeout 120 \
  --workers "${WORKERS:-1}" \
  --no-color \
  --report json --report-json-path "$work/report.json" \
  ${ST_EXTRA_ARGS:-} &
started+=($!)
wait "$!"

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
