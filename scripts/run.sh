#!/usr/bin/env bash
# A running Ballast chain on this machine, from a fresh clone:
#   - with a cometbft v0.38 binary (COMETBFT_BIN, or `cometbft` on PATH): a real 4-validator
#     testnet (testnet/up.sh 4), and a transfer made with the CLI on node 0;
#   - without one: `ballastd dev`, a single-process development chain, with a funded dev
#     account, and a transfer made with the CLI;
#   - either way, a regtest bitcoind with a mining loop and `ballast-vigilante`: epoch 1's
#     checkpoint is written to Bitcoin and followed until it is FINALIZED (BALLAST_RUN_NO_BITCOIN=1
#     skips this).
# The chain keeps running after this script returns; it prints how to use and stop it.
#   scripts/run.sh          start (or restart) and demo
#   scripts/run.sh stop     stop what it started
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

CACHE="${BALLAST_CACHE:-$HOME/.cache/ballast}"
DEV_HOME="${BALLAST_DEV_HOME:-$CACHE/dev}"
DEV_PID="$DEV_HOME/ballastd-dev.pid"
COMET="${COMETBFT_BIN:-$(command -v cometbft || true)}"

stop_dev() {
  if [ -f "$DEV_PID" ]; then
    pid="$(cat "$DEV_PID")"
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
      echo "stopped ballastd dev (pid $pid)"
    fi
    rm -f "$DEV_PID"
  fi
}

# The Bitcoin side of the dev chain lives in $DEV_HOME/btc (testnet/lib.sh's layout).
dev_btc_lib() {
  BALLAST_TESTNET_DIR="$DEV_HOME/btc"
  ROOT="$PWD"
  # shellcheck source=testnet/lib.sh
  . testnet/lib.sh
}

stop_dev_btc() {
  [ -d "$DEV_HOME/btc/pids" ] || return 0
  dev_btc_lib
  stop_pidfile "$TESTNET_DIR/pids/vigilante" "" 15 "$TESTNET_DIR/vigilante/vigilante.toml"
  stop_pidfile "$TESTNET_DIR/pids/miner" "" 15 "$BTC_DIR"
  stop_pidfile "$TESTNET_DIR/pids/bitcoind" "" 15 "-datadir=$BTC_DIR"
}

if [ "${1:-}" = "stop" ]; then
  stop_dev_btc
  stop_dev
  if [ -n "$COMET" ] && [ -x testnet/down.sh ]; then testnet/down.sh || true; fi
  exit 0
fi

echo "== building ballastd (release; cached in $CARGO_TARGET_DIR)"
cargo build --release --locked -p ballastd
BALLASTD="$CARGO_TARGET_DIR/release/ballastd"
export BALLASTD_BIN="$BALLASTD"

if [ -n "$COMET" ]; then
  echo "== cometbft found at $COMET: starting a real 4-validator testnet"
  COMETBFT_BIN="$COMET" testnet/up.sh 4
  DIR="${BALLAST_TESTNET_DIR:-$CACHE/testnet}"
  HOME0="$DIR/node0"
  NODE="$(grep -m1 '^laddr = "tcp://' "$HOME0/config/config.toml" | sed -n 's/.*"tcp:\/\/\(.*\)".*/tcp:\/\/\1/p')"
  FROM="$("$BALLASTD" keys list --home "$HOME0" --keyring-backend test --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["name"])')"
  STOP_HINT="testnet/down.sh"
  STATUS_HINT="testnet/status.sh"
else
  echo "== no cometbft (set COMETBFT_BIN or put cometbft on PATH for the real 4-node testnet)"
  echo "== starting ballastd dev: a single-process development chain, not a validator"
  stop_dev_btc
  stop_dev
  # A fresh chain each run, like the fresh regtest chain below (only a directory that holds a
  # dev home, or nothing, is wiped).
  if [ -f "$DEV_HOME/config/genesis.json" ] || [ -z "$(ls -A "$DEV_HOME" 2>/dev/null)" ]; then
    rm -rf "$DEV_HOME"
  else
    echo "$DEV_HOME is not a ballastd dev home; set BALLAST_DEV_HOME" >&2
    exit 1
  fi
  mkdir -p "$DEV_HOME"
  RPC_PORT="${BALLAST_DEV_RPC_PORT:-26657}"
  NODE="tcp://127.0.0.1:$RPC_PORT"
  nohup "$BALLASTD" dev --home "$DEV_HOME" --rpc-address "127.0.0.1:$RPC_PORT" \
    >"$DEV_HOME/ballastd-dev.out" 2>"$DEV_HOME/ballastd-dev.log" &
  echo $! >"$DEV_PID"
  for _ in $(seq 1 300); do
    grep -q "^RPC listening on" "$DEV_HOME/ballastd-dev.out" 2>/dev/null && break
    kill -0 "$(cat "$DEV_PID")" 2>/dev/null || { echo "ballastd dev exited:"; tail -n 20 "$DEV_HOME/ballastd-dev.log"; exit 1; }
    sleep 0.1
  done
  HOME0="$DEV_HOME"
  FROM="dev"
  STOP_HINT="scripts/run.sh stop"
  STATUS_HINT="$BALLASTD status --node $NODE"
fi
WITH_BITCOIN=1
[ "${BALLAST_RUN_NO_BITCOIN:-}" = "1" ] && WITH_BITCOIN=0

for _ in $(seq 1 300); do
  h="$("$BALLASTD" status --node "$NODE" --output json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["sync_info"]["latest_block_height"])' 2>/dev/null || echo 0)"
  [ "$h" -ge 2 ] 2>/dev/null && break
  sleep 0.2
done
echo "== chain is at height $h"

echo "== a transfer with the CLI: keys add demo; tx bank send $FROM demo 1000000ubal"
"$BALLASTD" keys delete demo --yes --home "$HOME0" --keyring-backend test >/dev/null 2>&1 || true
DEMO="$("$BALLASTD" keys add demo --home "$HOME0" --keyring-backend test --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)["address"])')"
"$BALLASTD" tx bank send "$FROM" "$DEMO" 1000000ubal --yes --home "$HOME0" --keyring-backend test --node "$NODE"
echo "== balance of $DEMO"
"$BALLASTD" query bank balances "$DEMO" --node "$NODE"

if [ "$WITH_BITCOIN" = 1 ]; then
  if [ -z "$COMET" ]; then
    echo "== the Bitcoin side: regtest bitcoind, a block every 2 s, and ballast-vigilante"
    cargo build --release --locked -p ballast-vigilante
    VIGILANTE="$CARGO_TARGET_DIR/release/ballast-vigilante"
    BTC_PREFIX="$(testnet/install-bitcoind.sh | tail -n 1)"
    dev_btc_lib
    mkdir -p "$TESTNET_DIR/pids" "$TESTNET_DIR/logs"
    start_bitcoind "${BALLAST_DEV_BTC_RPC_PORT:-18453}" "${BALLAST_DEV_BTC_P2P_PORT:-18454}"
    btc_cli -rpcwallet="$BTC_WALLET" -generate 101 >/dev/null
    start_miner 2
    # The vigilante signs with the dev account; the dev node serves gRPC on ballast.toml's address.
    mkdir -p "$TESTNET_DIR/vigilante"
    . "$BTC_DIR/rpc.env"
    cat >"$TESTNET_DIR/vigilante/vigilante.toml" <<TOML
data_dir = "data"
[ballast]
rpc_address = "$NODE"
grpc_address = "$(toml_get "$DEV_HOME/config/ballast.toml" grpc address)"
chain_id = "$(toml_get "$DEV_HOME/config/ballast.toml" "" chain_id)"
keyring_dir = "$DEV_HOME"
keyring_backend = "test"
key_name = "dev"
[bitcoin]
rpc_url = "http://127.0.0.1:$BTC_RPC_PORT"
wallet = "$BTC_WALLET"
rpc_user = "ballast"
rpc_password = "$BTC_RPC_PASSWORD"
network = "regtest"
TOML
    start_vigilante "$VIGILANTE"
    STOP_HINT="scripts/run.sh stop"
  fi
  echo "== following epoch 1's checkpoint (sealed at height 11, then on Bitcoin to FINALIZED)"
  last=""
  for _ in $(seq 1 300); do
    st="$("$BALLASTD" query checkpointing checkpoint 1 --node "$NODE" --output json 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["checkpoint"]["status"])' 2>/dev/null || echo none)"
    [ "$st" != "$last" ] && echo "   epoch 1: $st" && last="$st"
    [ "$st" = "FINALIZED" ] && break
    sleep 1
  done
  "$BALLASTD" query checkpointing checkpoint 1 --node "$NODE"
fi

cat <<EOT

Ballast is running.
  home:     $HOME0
  RPC:      $NODE   (CometBFT JSON-RPC; CosmJS and ballastd's CLI use it)
  status:   $STATUS_HINT
  send:     $BALLASTD tx bank send $FROM <address> 1000ubal --home $HOME0 --keyring-backend test --node $NODE
  checkpoints: $BALLASTD query checkpointing checkpoints --node $NODE
  stop:     $STOP_HINT
EOT
