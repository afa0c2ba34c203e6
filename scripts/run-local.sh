#!/usr/bin/env bash
# `make run`: the whole API on loopback. moto_server (DynamoDB + SQS), the table and queues, a
# development account, and every function behind `cargo lambda watch` with the deployed routes.
# Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

API_PORT="${API_PORT:-9000}"
MOTO_PORT="${MOTO_PORT:-5050}"
XERO_PORT="${XERO_PORT:-5051}"
mkdir -p .local

started=()
stop_all() {
  trap - EXIT INT TERM
  for pid in "${started[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  sleep 1
  for pid in "${started[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
}
trap stop_all EXIT
trap 'exit 130' INT TERM

wait_for_port() {
  local port=$1 name=$2
  for _ in $(seq 1 600); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "error: $name did not listen on 127.0.0.1:$port" >&2
  return 1
}

for port in "$API_PORT" "$MOTO_PORT" "$XERO_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "error: port $port is in use (another make run?); set API_PORT / MOTO_PORT / XERO_PORT" >&2
    exit 1
  fi
done

echo "==> moto_server (DynamoDB, SQS) on 127.0.0.1:$MOTO_PORT"
# moto_server with requests applied one at a time: see the script for why.
setsid python scripts/serialized_moto.py -H 127.0.0.1 -p "$MOTO_PORT" >.local/moto.log 2>&1 &
started+=($!)
wait_for_port "$MOTO_PORT" moto_server

echo "==> xero-local (Xero emulator) on 127.0.0.1:$XERO_PORT"
XERO_HOST=127.0.0.1 XERO_PORT="$XERO_PORT" setsid xero-local >.local/xero.log 2>&1 &
started+=($!)
wait_for_port "$XERO_PORT" xero-local

cat >.local/stack.env <<ENV
AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=local
AWS_SECRET_ACCESS_KEY=local
TABLE_NAME=invoicing-local
QUEUE_NAME=reconcile-requests-local
DLQ_NAME=reconcile-requests-local-dlq
QUEUE_URL=http://127.0.0.1:$MOTO_PORT/123456789012/reconcile-requests-local
SECRETS_PREFIX=invoicing-local
MAX_RECEIVE_COUNT=5
XERO_BASE_URL=http://127.0.0.1:$XERO_PORT
RUST_LOG=info
ENV
set -a; . .local/stack.env; set +a

echo "==> building the functions and the admin tool"
cargo build --quiet --workspace --bins
target/debug/invoicing-admin init-local
# The development account's API key is the one the events/ files carry, so that
# `cargo lambda invoke --data-file events/...` works against this stack.
events_api_key=$(python3 -c 'import json; print(json.load(open("events/create-invoice.json"))["headers"]["x-api-key"])')
target/debug/invoicing-admin create-account --name Development --api-key "$events_api_key" >.local/dev-account.env
(. .local/dev-account.env && target/debug/invoicing-admin set-receiving-account --client-id "$CLIENT_ID" \
  --name "Development operating account" --account-number 000123456789 --routing-number 021000021)
(. .local/dev-account.env && XERO_CLIENT_SECRET=local-secret target/debug/invoicing-admin connect-xero \
  --client-id "$CLIENT_ID" --xero-client-id local-client \
  --api-base-url "$XERO_BASE_URL" --token-url "$XERO_BASE_URL/connect/token")
echo "==> development account in .local/dev-account.env (connected to xero-local)"

echo "==> API on http://127.0.0.1:$API_PORT (Ctrl-C stops everything)"
setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$API_PORT" \
  --env-file .local/stack.env &
started+=($!)
watch_pid=$!
wait_for_port "$API_PORT" "cargo lambda watch"

echo "==> SQS trigger: $QUEUE_NAME -> reconcile-worker"
setsid python scripts/sqs_trigger.py --queue-url "$QUEUE_URL" --function reconcile-worker \
  --invoke-url "http://127.0.0.1:$API_PORT" >.local/sqs-trigger.log 2>&1 &
started+=($!)
wait "$watch_pid"
