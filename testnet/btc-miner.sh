#!/usr/bin/env bash
# The testnet's Bitcoin block producer: mines one regtest block every INTERVAL seconds to an
# address of the testnet wallet, until it is stopped. Started by testnet/up.sh and recorded in
# pids/miner; `--datadir` names the bitcoind it mines on (and tells down.sh this PID is ours).
#
#   testnet/btc-miner.sh --interval SECONDS --datadir DIR     (needs BTC_PREFIX)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=testnet/lib.sh
. "$ROOT/testnet/lib.sh"

interval=""
datadir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --interval) interval="$2"; shift 2 ;;
    --datadir) datadir="$2"; shift 2 ;;
    *) echo "unexpected argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$interval" ] && [ "$datadir" = "$BTC_DIR" ] || { echo "usage: btc-miner.sh --interval S --datadir $BTC_DIR" >&2; exit 2; }
: "${BTC_PREFIX:?BTC_PREFIX must name the bitcoind install prefix}"

trap 'echo "miner: stopping"; exit 0' TERM INT
address="$(btc_cli -rpcwallet="$BTC_WALLET" getnewaddress)"
echo "miner: mining to $address every ${interval}s"
while true; do
  if hash="$(btc_cli -rpcwallet="$BTC_WALLET" generatetoaddress 1 "$address" 2>&1)"; then
    echo "miner: height $(btc_cli getblockcount) $(echo "$hash" | tr -d '[]" \n')"
  else
    echo "miner: generatetoaddress failed (bitcoind down?): $hash"
  fi
  sleep "$interval" &
  wait $!
done
