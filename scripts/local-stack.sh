#!/usr/bin/env bash
# The local stack, for `make run` (scripts/run-local.sh) and the contract run
# (scripts/contract_test.sh): moto_server (DynamoDB, SQS, Secrets Manager) with DynamoDB requests
# applied one at a time, xero-local, the table and queues, a development account (with the events/
# API key, a receiving account and a Xero connection), every function behind `cargo lambda watch`,
# and the local triggers: the reconcile queue to reconcile-worker, the outbox table's stream to
# relay-webhook-events, the delivery queue to deliver-webhooks, and the Xero push and pull queues
# to push-to-xero and pull-from-xero.
#
#   scripts/local-stack.sh start DIR   starts it; writes DIR/stack.env (endpoints, ports, names),
#                                      DIR/dev-account.env (CLIENT_ID, CLIENT_SECRET, API_KEY),
#                                      DIR/pids and the logs; returns once everything listens
#   scripts/local-stack.sh stop DIR    stops every process `start` started
#
# Settings (environment): API_PORT, MOTO_PORT, XERO_PORT (a free loopback port each when unset),
# STACK_NAME (suffix of the table, queue and secret names; default `local`), SQS_TRIGGER (1, or 0
# to leave the queue unconsumed), RELOAD (1 rebuilds functions when their code changes, as
# `make run` wants; default 0), RUST_LOG (default info), API (1, or 0 when SAM serves the functions
# instead of `cargo lambda watch`), CUSTOM_XERO_CONNECTION (1: the development account gets a
# custom Xero connection; 0 leaves it for an OAuth connection through the API), ALSO_LISTEN_ON (an address of a Docker network the caller made:
# moto and xero-local listen there too, and the account's Xero connection points there, so that
# functions in SAM's containers reach them).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

command=${1:-}
dir=${2:-}
if [ -z "$command" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi

stop() {
  [ -f "$dir/pids" ] || return 0
  while read -r pid _; do kill -TERM -- "-$pid" 2>/dev/null || true; done <"$dir/pids"
  sleep 1
  while read -r pid _; do kill -KILL -- "-$pid" 2>/dev/null || true; done <"$dir/pids"
  rm -f "$dir/pids"
}

if [ "$command" = stop ]; then
  stop
  exit 0
fi
[ "$command" = start ] || { echo "unknown command $command" >&2; exit 2; }

mkdir -p "$dir"
: >"$dir/pids"
# A failure half-way stops what was started.
trap 'status=$?; if [ $status -ne 0 ]; then stop; echo "local stack failed; logs in $dir" >&2; fi' EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_for_port() {
  local port=$1 name=$2
  for _ in $(seq 1 1200); do
    if in_use "$port"; then return 0; fi
    sleep 0.1
  done
  echo "error: $name did not listen on 127.0.0.1:$port (see $dir)" >&2
  return 1
}

# Starts a command in its own process group (so that `stop` stops whatever it starts too).
launch() {
  local name=$1 log=$2
  shift 2
  setsid "$@" >"$log" 2>&1 &
  echo "$! $name" >>"$dir/pids"
}

MOTO_PORT=${MOTO_PORT:-$(free_port)}
XERO_PORT=${XERO_PORT:-$(free_port)}
API_PORT=${API_PORT:-$(free_port)}
for port in "$API_PORT" "$MOTO_PORT" "$XERO_PORT"; do
  if in_use "$port"; then
    echo "error: port $port is in use (another stack?); set API_PORT / MOTO_PORT / XERO_PORT" >&2
    exit 1
  fi
done
name=${STACK_NAME:-local}

echo "==> building the functions and the admin tool"
cargo build --quiet --workspace --bins

echo "==> moto_server (DynamoDB, SQS, Secrets Manager) on 127.0.0.1:$MOTO_PORT"
hosts=(-H 127.0.0.1)
[ -n "${ALSO_LISTEN_ON:-}" ] && hosts+=(-H "$ALSO_LISTEN_ON")
launch moto "$dir/moto.log" python scripts/serialized_moto.py "${hosts[@]}" -p "$MOTO_PORT"
echo "==> xero-local (Xero emulator) on 127.0.0.1:$XERO_PORT ${ALSO_LISTEN_ON:+and $ALSO_LISTEN_ON:$XERO_PORT}"
launch xero-local "$dir/xero.log" python scripts/xero_emulator.py "${hosts[@]}" -p "$XERO_PORT"
wait_for_port "$MOTO_PORT" moto_server
wait_for_port "$XERO_PORT" xero-local

# Where the functions reach xero-local (SAM's containers: on the Docker network's address).
xero_url="http://${ALSO_LISTEN_ON:-127.0.0.1}:$XERO_PORT"
cat >"$dir/stack.env" <<ENV
API_PORT=$API_PORT
MOTO_PORT=$MOTO_PORT
XERO_PORT=$XERO_PORT
AWS_ENDPOINT_URL=http://127.0.0.1:$MOTO_PORT
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=local
AWS_SECRET_ACCESS_KEY=local
TABLE_NAME=invoicing-$name
EVENTS_TABLE_NAME=invoicing-events-$name
QUEUE_NAME=reconcile-requests-$name
DLQ_NAME=reconcile-requests-$name-dlq
QUEUE_URL=http://127.0.0.1:$MOTO_PORT/123456789012/reconcile-requests-$name
DELIVERY_QUEUE_NAME=webhook-deliveries-$name
DELIVERY_DLQ_NAME=webhook-deliveries-$name-dlq
DELIVERY_QUEUE_URL=http://127.0.0.1:$MOTO_PORT/123456789012/webhook-deliveries-$name
PUSH_QUEUE_NAME=xero-pushes-$name
PUSH_DLQ_NAME=xero-pushes-$name-dlq
PUSH_QUEUE_URL=http://127.0.0.1:$MOTO_PORT/123456789012/xero-pushes-$name
PULL_QUEUE_NAME=xero-pulls-$name
PULL_DLQ_NAME=xero-pulls-$name-dlq
PULL_QUEUE_URL=http://127.0.0.1:$MOTO_PORT/123456789012/xero-pulls-$name
SECRETS_PREFIX=invoicing-$name
MAX_RECEIVE_COUNT=5
XERO_BASE_URL=http://127.0.0.1:$XERO_PORT
# The local Xero app's webhook key (in Secrets Manager for the functions): a local client signs
# test webhooks with it (x-xero-signature); the events/ file is signed with the default.
XERO_WEBHOOK_KEY=${XERO_WEBHOOK_KEY:-events-webhook-key}
XERO_CLIENT_ID=invoicing-local-app
XERO_AUTHORIZE_URL=http://127.0.0.1:$XERO_PORT/identity/connect/authorize
XERO_TOKEN_URL=$xero_url/connect/token
XERO_CONNECTIONS_URL=$xero_url/connections
XERO_REVOCATION_URL=$xero_url/connect/revocation
XERO_API_BASE_URL=$xero_url
XERO_REDIRECT_URI=http://127.0.0.1:$API_PORT/integrations/xero/callback
RUST_LOG=${RUST_LOG:-info}
# Webhook endpoints on this machine (receivers in tests and the walk-through); off in template.yaml.
ALLOW_LOCAL_WEBHOOK_TARGETS=true
ENV
set -a; . "$dir/stack.env"; set +a

admin=${CARGO_TARGET_DIR:-target}/debug/invoicing-admin
"$admin" init-local
# The development account has the API key and account id the events/ files carry, and the invoice,
# line and job they name, so that `cargo lambda invoke --data-file events/...` and
# `sam local invoke -e events/...` reach real data on this stack.
events_api_key=$(python3 -c 'import json; print(json.load(open("events/create-invoice.json"))["headers"]["x-api-key"])')
events_account_id=$(python3 -c 'import json; print(json.loads(json.load(open("events/reconcile-worker.json"))["Records"][0]["body"])["accountId"])')
"$admin" create-account --name Development --api-key "$events_api_key" --account-id "$events_account_id" \
  >"$dir/dev-account.env"
(. "$dir/dev-account.env" && "$admin" seed-examples --client-id "$CLIENT_ID")
(. "$dir/dev-account.env" && "$admin" set-receiving-account --client-id "$CLIENT_ID" \
  --name "Development operating account" --account-number 000123456789 --routing-number 021000021)
# The service's Xero app, for customers' own connections (xero-local accepts any client secret).
XERO_CLIENT_SECRET=local-app-secret "$admin" set-xero-app-secret
"$admin" set-xero-webhook-key
if [ "${CUSTOM_XERO_CONNECTION:-1}" = 1 ]; then
  # An operator's custom connection for the development account (the contract and SAM runs use
  # it); `make run` leaves the account unconnected, for the README to connect it through OAuth.
  (. "$dir/dev-account.env" && XERO_CLIENT_SECRET=local-secret "$admin" connect-xero \
    --client-id "$CLIENT_ID" --xero-client-id local-client \
    --api-base-url "$xero_url" --token-url "$xero_url/connect/token")
fi

[ "${API:-1}" = 1 ] || exit 0
echo "==> API on http://127.0.0.1:$API_PORT"
# cargo lambda watch watches its working directory, recursively, once for every function it
# starts (inotify, a watch per directory). From the repository that is some 13,000 directories
# (.venv, target) per function, 30-odd functions reach the kernel's limit
# (fs.inotify.max_user_watches), and a function whose watcher then fails never answers again.
# Without reloading nothing needs watching: it runs in an empty directory inside the repository
# (so that rust-toolchain.toml still applies) and finds the workspace by --manifest-path.
root=$PWD
watch_dir=$root/target/lambda-watch-root
reload=(--ignore-changes)
if [ "${RELOAD:-0}" = 1 ]; then reload=(); watch_dir=$root; fi
mkdir -p "$watch_dir"
launch api "$dir/api.log" env -C "$watch_dir" cargo lambda watch --manifest-path "$root/Cargo.toml" \
  --invoke-address 127.0.0.1 --invoke-port "$API_PORT" "${reload[@]}" --env-file "$(cd "$dir" && pwd)/stack.env"
wait_for_port "$API_PORT" "cargo lambda watch"

if [ "${SQS_TRIGGER:-1}" = 1 ]; then
  echo "==> SQS trigger: $QUEUE_NAME -> reconcile-worker"
  launch sqs-trigger "$dir/sqs-trigger.log" python scripts/sqs_trigger.py --queue-url "$QUEUE_URL" \
    --function reconcile-worker --invoke-url "http://127.0.0.1:$API_PORT"
  echo "==> webhooks: the stream of $EVENTS_TABLE_NAME -> relay-webhook-events; $DELIVERY_QUEUE_NAME -> deliver-webhooks"
  launch stream-trigger "$dir/stream-trigger.log" python scripts/dynamodb_stream_trigger.py \
    --table "$EVENTS_TABLE_NAME" --function relay-webhook-events --invoke-url "http://127.0.0.1:$API_PORT"
  launch delivery-trigger "$dir/delivery-trigger.log" python scripts/sqs_trigger.py --queue-url "$DELIVERY_QUEUE_URL" \
    --function deliver-webhooks --invoke-url "http://127.0.0.1:$API_PORT"
  echo "==> Xero sync: $PUSH_QUEUE_NAME -> push-to-xero; $PULL_QUEUE_NAME -> pull-from-xero"
  launch push-trigger "$dir/push-trigger.log" python scripts/sqs_trigger.py --queue-url "$PUSH_QUEUE_URL" \
    --function push-to-xero --invoke-url "http://127.0.0.1:$API_PORT"
  launch pull-trigger "$dir/pull-trigger.log" python scripts/sqs_trigger.py --queue-url "$PULL_QUEUE_URL" \
    --function pull-from-xero --invoke-url "http://127.0.0.1:$API_PORT"
fi
