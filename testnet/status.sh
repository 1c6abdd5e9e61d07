#!/usr/bin/env bash
# Shows each node of the local testnet: CometBFT's latest height and app hash (RPC /status),
# the height and app hash the app reports (RPC /abci_info), and whether the node's ballastd and
# cometbft processes (from $BALLAST_TESTNET_DIR/pids/) are alive; then each covenant signer
# (running(PID) or down, its key and the account it pays with); then bitcoind, the miner and the
# vigilante, and each epoch's checkpoint status with the Bitcoin heights of its two txs; and the
# demo consumer (running(PID) or down, its consumer id and its last verified update).
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

pidfile_alive_arg() {
  if [ -f "$TESTNET_DIR/$1" ] && pid_has_arg "$(cat "$TESTNET_DIR/$1")" "$2"; then
    echo "up($(cat "$TESTNET_DIR/$1"))"
  else
    echo "down"
  fi
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

# The covenant signers.
COVENANTS="$(covenant_count)"
if [ "$COVENANTS" -gt 0 ]; then
  echo
  printf '%-11s %-16s %-64s %s\n' COVENANT SIGNER PUBKEY ACCOUNT
  for ((i = 0; i < COVENANTS; i++)); do
    config="$TESTNET_DIR/covenant-$i/covenant.toml"
    state="down"
    if [ -f "$TESTNET_DIR/pids/covenant-$i" ] && pid_has_arg "$(cat "$TESTNET_DIR/pids/covenant-$i")" "$config"; then
      state="running($(cat "$TESTNET_DIR/pids/covenant-$i"))"
    fi
    account="-"
    [ -f "$config" ] && account="$(toml_get "$config" ballast key_name)"
    printf '%-11s %-16s %-64s %s\n' "covenant-$i" "$state" "$(covenant_pubkey "$i")" "${account:--}"
  done
fi

# The Bitcoin side and the checkpoint of every epoch, as node 0 sees them.
if [ -f "$TESTNET_DIR/bin.env" ]; then
  # shellcheck disable=SC1091
  . "$TESTNET_DIR/bin.env"
fi
echo
if [ -f "$BTC_DIR/rpc.env" ] && [ -n "${BTC_PREFIX:-}" ]; then
  printf 'BITCOIND %s  MINER %s  VIGILANTE %s  BTC_HEIGHT %s\n' \
    "$(pidfile_alive_arg pids/bitcoind "-datadir=$BTC_DIR")" \
    "$(pidfile_alive_arg pids/miner "$BTC_DIR")" \
    "$(pidfile_alive_arg pids/vigilante "$TESTNET_DIR/vigilante/vigilante.toml")" \
    "$(btc_cli getblockcount 2>/dev/null || echo -)"
fi
if [ -n "${TESTNET_BALLASTD:-}" ] && [ -x "$TESTNET_BALLASTD" ]; then
  node="$(rpc_url "$TESTNET_DIR/node0")"
  if out="$("$TESTNET_BALLASTD" query checkpointing checkpoints --node "$node" --output json 2>&1)"; then
    python3 - "$out" <<'PY'
import json, sys
cps = json.loads(sys.argv[1]).get("checkpoints", [])
print("%-6s %-13s %-10s %-10s %-10s %s" % ("EPOCH", "STATUS", "SEALED_AT", "BTC_TX1", "BTC_TX2", "POWER"))
for c in cps:
    sealed = next((l["hub_height"] for l in c["lifecycle"] if l["status"] == "SEALED"), "-")
    sub = c.get("submission") or {}
    h = lambda p: (sub.get(p) or {}).get("block_height", "-")
    print("%-6s %-13s %-10s %-10s %-10s %s/%s" % (c["epoch"], c["status"], sealed, h("part0"), h("part1"),
                                             c["signed_power"], c["total_power"]))
if not cps:
    print("no checkpoints yet")
PY
  else
    echo "checkpoints: node0 does not answer ($out)"
  fi
fi

# The demo consumer, when up.sh started one.
if [ -f "$CONSUMER_CONFIG" ]; then
  echo
  state="down"
  consumer_alive && state="running($(cat "$TESTNET_DIR/pids/consumer"))"
  last="$(consumer_last_update)"
  printf 'CONSUMER %s  ID %s  LAST_VERIFIED %s\n' "$state" "$(consumer_id_of_config)" "${last:-none yet}"
fi
