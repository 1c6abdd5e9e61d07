#!/usr/bin/env bash
# Shows each node of the local testnet: CometBFT's latest height and app hash (RPC /status),
# the height and app hash the app reports (RPC /abci_info), and whether the node's ballastd and
# cometbft processes (from $BALLAST_TESTNET_DIR/pids/) are alive.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=testnet/lib.sh
. "$ROOT/testnet/lib.sh"
# Only reads; a node that does not answer is shown as such, not an error. (And without pipefail
# a `grep | head` that stops early is not a failure.)
set +e +o pipefail

N="$(node_count)"
if [ "$N" -eq 0 ]; then
  echo "no testnet in $TESTNET_DIR: run testnet/up.sh"
  exit 1
fi

# json_str KEY: the first "KEY": "value" in stdin.
json_str() {
  grep -o "\"$1\"[[:space:]]*:[[:space:]]*\"[^\"]*\"" | head -n 1 | sed 's/.*:[[:space:]]*"\(.*\)"/\1/'
}

alive() {
  if pidfile_alive "$TESTNET_DIR/pids/$1" "$2"; then
    echo "up($(cat "$TESTNET_DIR/pids/$1"))"
  else
    echo "down"
  fi
}

printf '%-7s %-8s %-66s %-8s %-14s %-14s %s\n' NODE HEIGHT APP_HASH APP_H BALLASTD COMETBFT RPC
for ((i = 0; i < N; i++)); do
  home="$TESTNET_DIR/node$i"
  url="$(rpc_url "$home")"
  height="-"
  hash="-"
  app_height="-"
  if status="$(curl -sf --max-time 3 "$url/status" 2>/dev/null)"; then
    height="$(json_str latest_block_height <<<"$status")"
    hash="$(json_str latest_app_hash <<<"$status")"
  fi
  if info="$(curl -sf --max-time 3 "$url/abci_info" 2>/dev/null)"; then
    app_height="$(json_str last_block_height <<<"$info")"
  fi
  printf '%-7s %-8s %-66s %-8s %-14s %-14s %s\n' "node$i" "${height:--}" "${hash:--}" \
    "${app_height:--}" "$(alive "node$i.ballastd" "$home")" "$(alive "node$i.cometbft" "$home")" "$url"
done
