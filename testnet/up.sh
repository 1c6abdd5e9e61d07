#!/usr/bin/env bash
# Starts a local N-validator Ballast testnet: N pairs of `ballastd start` + `cometbft start`
# on 127.0.0.1, all sharing one genesis, wired to each other; a regtest bitcoind with a mining
# loop; `ballast-vigilante`, which relays Bitcoin headers to the chain and writes every
# sealed checkpoint to Bitcoin (signing with node 0's account); and one `ballast-covenant` per
# covenant key that `ballastd testnet generate` wrote (covenant-<i>/), which signs the PENDING BTC
# delegations (paying with node (i + 1) mod N's account); with BALLAST_TESTNET_CONSUMER=1, the
# demo consumer `ballast-consumer run` (consumer/), which follows one consumer's validator set
# over node 0's gRPC and verifies every update with a light client on node 0's RPC.
#
#   testnet/up.sh [N]        (re)generate N homes (default 4) and start every node
#   testnet/up.sh --node I   start node I again (after a crash, a kill or down.sh), keeping its
#                            home and data
#
# Each `up.sh [N]` wipes the testnet directory and generates fresh homes with
# `ballastd testnet generate`; then it waits until every node's CometBFT RPC answers.
# Stop it with testnet/down.sh; look at it with testnet/status.sh.
#
# Environment:
#   BALLAST_TESTNET_DIR        testnet directory (default ~/.cache/ballast/testnet)
#   BALLASTD_BIN               ballastd to run (default: build it in release, see scripts/env.sh)
#   COMETBFT_BIN               cometbft v0.38 to run (default: cometbft on PATH)
#   BALLAST_TESTNET_BASE_PORT  node 0's first port (default 26656; node i uses base + 10 i ...)
#   BALLAST_TESTNET_CHAIN_ID   chain id (default ballast-testnet-1)
#   BALLAST_TESTNET_FLAGS      more `ballastd testnet generate` flags, e.g. "--timeout-commit 500ms"
#   BALLAST_TESTNET_WAIT       seconds to wait for each node's RPC (default 60)
#   BALLAST_VIGILANTE_BIN      ballast-vigilante to run (default: build it in release)
#   BALLAST_COVENANT_BIN       ballast-covenant to run (default: build it in release when the
#                              testnet has covenant keys)
#   BALLAST_TESTNET_BTC_RPC_PORT, BALLAST_TESTNET_BTC_P2P_PORT
#                              bitcoind's regtest ports (default 18443, 18444)
#   BALLAST_TESTNET_BTC_BLOCK_SECS  seconds between mined Bitcoin blocks (default 2)
#   BALLAST_TESTNET_NO_BITCOIN=1    start no bitcoind, miner or vigilante (the Ballast nodes and
#                                   the covenant signers, which need no Bitcoin node, still start)
#   BALLAST_TESTNET_CONSUMER=1      also start the demo consumer `ballast-consumer run`, following
#                                   consumer BALLAST_TESTNET_CONSUMER_ID over node 0's gRPC with a
#                                   light client on node 0's RPC (testnet/scenarios/consumer.sh
#                                   registers it and opts operators in)
#   BALLAST_TESTNET_CONSUMER_ID     its consumer id (default demo-consumer-1)
#   BALLAST_CONSUMER_BIN            ballast-consumer to run (default: build it in release)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=testnet/lib.sh
. "$ROOT/testnet/lib.sh"

WAIT="${BALLAST_TESTNET_WAIT:-60}"

usage() {
  echo "usage: testnet/up.sh [N] | testnet/up.sh --node I" >&2
  exit 2
}

# --- up.sh --node I: restart one node of the existing testnet -----------------------------------
if [ "${1:-}" = "--node" ]; then
  [ $# -eq 2 ] || usage
  I="$2"
  case "$I" in '' | *[!0-9]*) usage ;; esac
  HOME_I="$TESTNET_DIR/node$I"
  if [ ! -d "$HOME_I" ]; then
    echo "no node$I in $TESTNET_DIR: run testnet/up.sh first" >&2
    exit 1
  fi
  BALLASTD="${BALLASTD_BIN:-}"
  COMETBFT="${COMETBFT_BIN:-}"
  if [ -f "$TESTNET_DIR/bin.env" ]; then
    # shellcheck disable=SC1091
    . "$TESTNET_DIR/bin.env"
    BALLASTD="${BALLASTD_BIN:-$TESTNET_BALLASTD}"
    COMETBFT="${COMETBFT_BIN:-$TESTNET_COMETBFT}"
  fi
  if [ -z "$BALLASTD" ] || [ -z "$COMETBFT" ]; then
    echo "don't know which binaries to run: set BALLASTD_BIN and COMETBFT_BIN" >&2
    exit 1
  fi
  for proc in ballastd cometbft; do
    if pidfile_alive "$TESTNET_DIR/pids/node$I.$proc" "$HOME_I"; then
      echo "node$I's $proc is already running (PID $(cat "$TESTNET_DIR/pids/node$I.$proc")); stop it first" >&2
      exit 1
    fi
  done
  echo "== restarting node$I"
  start_node "$I" "$BALLASTD" "$COMETBFT"
  wait_rpc "$I" "$WAIT"
  echo "== node$I is up: $(rpc_url "$HOME_I")"
  exit 0
fi

# --- up.sh [N]: a fresh testnet -----------------------------------------------------------------
N="${1:-4}"
case "$N" in '' | *[!0-9]*) usage ;; esac
[ "$N" -ge 1 ] || usage

COMETBFT="$(find_cometbft)"
if ! command -v curl >/dev/null 2>&1; then
  echo "curl not found: up.sh and status.sh use it to ask each node's RPC" >&2
  exit 1
fi

if [ -n "${BALLASTD_BIN:-}" ]; then
  BALLASTD="$BALLASTD_BIN"
  if [ ! -x "$BALLASTD" ]; then
    echo "BALLASTD_BIN=$BALLASTD is not an executable file" >&2
    exit 1
  fi
else
  echo "== building ballastd (release; BALLASTD_BIN skips this)"
  # shellcheck source=scripts/env.sh
  (cd "$ROOT" && . scripts/env.sh && cargo build --release -p ballastd)
  BALLASTD="$(cd "$ROOT" && . scripts/env.sh && echo "$CARGO_TARGET_DIR/release/ballastd")"
fi
WITH_BITCOIN=1
[ "${BALLAST_TESTNET_NO_BITCOIN:-}" = "1" ] && WITH_BITCOIN=0
VIGILANTE=""
if [ "$WITH_BITCOIN" = 1 ]; then
  if [ -n "${BALLAST_VIGILANTE_BIN:-}" ]; then
    VIGILANTE="$BALLAST_VIGILANTE_BIN"
    if [ ! -x "$VIGILANTE" ]; then
      echo "BALLAST_VIGILANTE_BIN=$VIGILANTE is not an executable file" >&2
      exit 1
    fi
  else
    echo "== building ballast-vigilante (release; BALLAST_VIGILANTE_BIN skips this)"
    (cd "$ROOT" && . scripts/env.sh && cargo build --release -p ballast-vigilante)
    VIGILANTE="$(cd "$ROOT" && . scripts/env.sh && echo "$CARGO_TARGET_DIR/release/ballast-vigilante")"
  fi
  echo "== installing bitcoind (cached after the first run)"
  BTC_PREFIX="$("$ROOT/testnet/install-bitcoind.sh" | tail -n 1)"
fi
CONSUMER=""
if [ "${BALLAST_TESTNET_CONSUMER:-}" = "1" ]; then
  if [ -n "${BALLAST_CONSUMER_BIN:-}" ]; then
    CONSUMER="$BALLAST_CONSUMER_BIN"
    if [ ! -x "$CONSUMER" ]; then
      echo "BALLAST_CONSUMER_BIN=$CONSUMER is not an executable file" >&2
      exit 1
    fi
  else
    echo "== building ballast-consumer (release; BALLAST_CONSUMER_BIN skips this)"
    (cd "$ROOT" && . scripts/env.sh && cargo build --release -p ballast-consumer)
    CONSUMER="$(cd "$ROOT" && . scripts/env.sh && echo "$CARGO_TARGET_DIR/release/ballast-consumer")"
  fi
fi

# Never wipe a directory this script did not create.
case "$TESTNET_DIR" in "" | "/" | "$HOME" | "$HOME/")
  echo "refusing to use $TESTNET_DIR as the testnet directory" >&2
  exit 1
  ;;
esac
if [ -d "$TESTNET_DIR" ] && [ -n "$(ls -A "$TESTNET_DIR")" ] && [ ! -f "$TESTNET_DIR/$TESTNET_MARKER" ]; then
  echo "$TESTNET_DIR is not empty and was not made by testnet/up.sh; remove it or set BALLAST_TESTNET_DIR" >&2
  exit 1
fi
if [ -d "$TESTNET_DIR/pids" ]; then
  echo "== stopping the testnet already running in $TESTNET_DIR"
  "$ROOT/testnet/down.sh"
fi
rm -rf "$TESTNET_DIR"
mkdir -p "$TESTNET_DIR/pids" "$TESTNET_DIR/logs"
touch "$TESTNET_DIR/$TESTNET_MARKER"
{
  printf 'TESTNET_BALLASTD=%q\n' "$BALLASTD"
  printf 'TESTNET_COMETBFT=%q\n' "$COMETBFT"
  printf 'TESTNET_VIGILANTE=%q\n' "$VIGILANTE"
  printf 'BTC_PREFIX=%q\n' "${BTC_PREFIX:-}"
  printf 'TESTNET_CONSUMER=%q\n' "$CONSUMER"
} >"$TESTNET_DIR/bin.env"

echo "== generating $N validator homes in $TESTNET_DIR"
# shellcheck disable=SC2086 # BALLAST_TESTNET_FLAGS is a list of flags
"$BALLASTD" testnet generate \
  --validators "$N" \
  --output-dir "$TESTNET_DIR" \
  --chain-id "${BALLAST_TESTNET_CHAIN_ID:-ballast-testnet-1}" \
  --base-port "${BALLAST_TESTNET_BASE_PORT:-26656}" \
  --keyring-backend test \
  ${BALLAST_TESTNET_FLAGS:-}

echo "== starting $N nodes (ballastd $BALLASTD, cometbft $COMETBFT)"
fail() {
  echo "== start failed; stopping what was started" >&2
  "$ROOT/testnet/down.sh" >&2 || true
  exit 1
}
for ((i = 0; i < N; i++)); do
  start_node "$i" "$BALLASTD" "$COMETBFT" || fail
done
echo "== waiting for every node's RPC"
for ((i = 0; i < N; i++)); do
  wait_rpc "$i" "$WAIT" || fail
done

COVENANTS="$(covenant_count)"
if [ "$COVENANTS" -gt 0 ]; then
  if [ -n "${BALLAST_COVENANT_BIN:-}" ]; then
    COVENANT="$BALLAST_COVENANT_BIN"
    if [ ! -x "$COVENANT" ]; then
      echo "BALLAST_COVENANT_BIN=$COVENANT is not an executable file" >&2
      fail
    fi
  else
    echo "== building ballast-covenant (release; BALLAST_COVENANT_BIN skips this)"
    (cd "$ROOT" && . scripts/env.sh && cargo build --release -p ballast-covenant) || fail
    COVENANT="$(cd "$ROOT" && . scripts/env.sh && echo "$CARGO_TARGET_DIR/release/ballast-covenant")"
  fi
  printf 'TESTNET_COVENANT=%q\n' "$COVENANT" >>"$TESTNET_DIR/bin.env"
  echo "== starting $COVENANTS covenant signers ($COVENANT)"
  for ((i = 0; i < COVENANTS; i++)); do
    write_covenant_config "$i" "$N" "${BALLAST_TESTNET_CHAIN_ID:-ballast-testnet-1}"
    start_covenant "$i" "$COVENANT" || fail
  done
fi

if [ "$WITH_BITCOIN" = 1 ]; then
  echo "== starting the Bitcoin side"
  start_bitcoind "${BALLAST_TESTNET_BTC_RPC_PORT:-18443}" "${BALLAST_TESTNET_BTC_P2P_PORT:-18444}" || fail
  # 101 blocks: the wallet's first coinbase matures, so the vigilante can pay for checkpoints.
  btc_cli -rpcwallet="$BTC_WALLET" -generate 101 >/dev/null || fail
  start_miner "${BALLAST_TESTNET_BTC_BLOCK_SECS:-2}"
  write_vigilante_config "${BALLAST_TESTNET_CHAIN_ID:-ballast-testnet-1}"
  start_vigilante "$VIGILANTE" || fail
fi

if [ -n "$CONSUMER" ]; then
  echo "== starting the demo consumer ($CONSUMER)"
  write_consumer_config "$CONSUMER" "$BALLASTD" "${BALLAST_TESTNET_CONSUMER_ID:-demo-consumer-1}" \
    "$(toml_get "$TESTNET_DIR/node0/config/ballast.toml" grpc address)" "$(rpc_url "$TESTNET_DIR/node0")" || fail
  start_consumer "$CONSUMER" || fail
fi

echo "== testnet up: $N validators, chain ${BALLAST_TESTNET_CHAIN_ID:-ballast-testnet-1}"
for ((i = 0; i < N; i++)); do
  echo "  node$i  rpc $(rpc_url "$TESTNET_DIR/node$i")  home $TESTNET_DIR/node$i"
done
if [ "$WITH_BITCOIN" = 1 ]; then
  echo "  bitcoind regtest RPC 127.0.0.1:$BTC_RPC_PORT (password in $BTC_DIR/rpc.env); vigilante config $TESTNET_DIR/vigilante/vigilante.toml"
fi
if [ "$COVENANTS" -gt 0 ]; then
  echo "  $COVENANTS covenant signers; configs in $TESTNET_DIR/covenant-<i>/covenant.toml"
fi
if [ -n "$CONSUMER" ]; then
  echo "  demo consumer $(consumer_id_of_config): config $CONSUMER_CONFIG; testnet/scenarios/consumer.sh registers it and opts two operators in"
fi
echo "  logs in $TESTNET_DIR/logs; testnet/status.sh shows heights and checkpoints; testnet/down.sh stops it"
