#!/usr/bin/env bash
# `make run`: the whole API on loopback (scripts/local-stack.sh) in .local/, on API_PORT (9000),
# MOTO_PORT (5050) and XERO_PORT (5051), rebuilding functions when their code changes. Ctrl-C stops
# everything.
set -euo pipefail
cd "$(dirname "$0")/.."

export API_PORT="${API_PORT:-9000}" MOTO_PORT="${MOTO_PORT:-5050}" XERO_PORT="${XERO_PORT:-5051}"
trap 'scripts/local-stack.sh stop .local' EXIT
trap 'exit 130' INT TERM
RELOAD=1 CUSTOM_XERO_CONNECTION=0 scripts/local-stack.sh start .local
echo "==> development account in .local/dev-account.env (connect it to xero-local: see the README); stack in .local/stack.env"
echo "==> API on http://127.0.0.1:$API_PORT (Ctrl-C stops everything)"
api_pid=$(awk '$2 == "api" {print $1}' .local/pids)
while kill -0 "$api_pid" 2>/dev/null; do sleep 1; done
echo "cargo lambda watch stopped; see .local/api.log" >&2
exit 1
