#!/usr/bin/env bash
# Stops the local testnet started by testnet/up.sh: every process recorded in
# $BALLAST_TESTNET_DIR/pids/ gets SIGTERM, then SIGKILL if it is still running after
# $BALLAST_TESTNET_STOP_TIMEOUT seconds (default 15). The demo consumer, the covenant signers, the
# vigilante and the miner stop first, then each CometBFT before its ballastd, and bitcoind last.
# Processes are found by their PID files only, never by name; a PID whose process no longer runs
# this testnet's node (exited, or the PID was reused) is not signalled. Homes and logs stay.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=testnet/lib.sh
. "$ROOT/testnet/lib.sh"

TIMEOUT="${BALLAST_TESTNET_STOP_TIMEOUT:-15}"

if [ ! -d "$TESTNET_DIR/pids" ]; then
  echo "no testnet running from $TESTNET_DIR (no pids/ directory)"
  exit 0
fi
echo "== stopping the testnet in $TESTNET_DIR"
shopt -s nullglob
# The covenant signers, the vigilante and the miner first (they talk to the nodes and to
# bitcoind), bitcoind last. A signer's PID counts as ours while its arguments name its config.
stop_pidfile "$TESTNET_DIR/pids/consumer" "" "$TIMEOUT" "$CONSUMER_CONFIG"
for file in "$TESTNET_DIR"/pids/covenant-*; do
  stop_pidfile "$file" "" "$TIMEOUT" "$TESTNET_DIR/$(basename "$file")/covenant.toml"
done
stop_pidfile "$TESTNET_DIR/pids/vigilante" "" "$TIMEOUT" "$TESTNET_DIR/vigilante/vigilante.toml"
stop_pidfile "$TESTNET_DIR/pids/miner" "" "$TIMEOUT" "$BTC_DIR"
for proc in cometbft ballastd; do
  for file in "$TESTNET_DIR"/pids/node*."$proc"; do
    node="$(basename "$file" ".$proc")"
    stop_pidfile "$file" "$TESTNET_DIR/$node" "$TIMEOUT"
  done
done
stop_pidfile "$TESTNET_DIR/pids/bitcoind" "" "$TIMEOUT" "-datadir=$BTC_DIR"
echo "== stopped"
