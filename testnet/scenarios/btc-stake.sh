#!/usr/bin/env bash
# One BTC delegation's whole life on the running local testnet (testnet/up.sh with its regtest
# bitcoind, the vigilante relaying headers and the covenant signers):
#
#   1. a staker account (key `staker` in the scenario's own keyring, funded once from a node's
#      account) and a staker BTC key (`ballastd btc keygen`);
#   2. `ballastd btc stake --wait-inclusion` to an operator: bitcoind's wallet funds the staking
#      tx, the delegation is registered (PENDING), the covenant signers sign it (VERIFIED), and
#      once the tx is k = btc_confirmation_depth blocks deep in the light client its inclusion
#      proof makes it ACTIVE; regtest blocks are mined with btc_cli meanwhile;
#   3. the operator's live power rises by floor(sat × btc_power_weight), and the hub validator
#      set shows it after the next epoch end;
#   4. `ballastd btc unbond`: the covenant-signed unbonding tx goes to bitcoind and the
#      delegation is UNBONDING; the live power drops back;
#   5. blocks are mined until unbonding_btc_height + unbonding_time: UNBONDED, and the hub set
#      shows the old power again.
#
# Every step is printed; any failure or timeout exits non-zero with what was seen.
#
#   testnet/scenarios/btc-stake.sh
#
# Environment:
#   BALLAST_TESTNET_DIR     the testnet directory (default ~/.cache/ballast/testnet)
#   BALLASTD_BIN            ballastd to run (default: the one up.sh ran, from bin.env)
#   BALLAST_NODE            CometBFT RPC to use (default: node 0's, from its config.toml)
#   BTC_STAKE_OPERATOR      operator BTC key to stake to (default: the first operator)
#   BTC_STAKE_AMOUNT        satoshis to stake (default 5000000, kept within the chain's params)
#   BTC_STAKE_TIMEOUT       seconds each wait may take (default 300)
#
# The scenario's keyring, BTC key and outputs are in $BALLAST_TESTNET_DIR/scenarios/btc-stake/;
# running it again reuses the staker and stakes anew.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=testnet/lib.sh
. "$ROOT/testnet/lib.sh"

TIMEOUT="${BTC_STAKE_TIMEOUT:-300}"
AMOUNT="${BTC_STAKE_AMOUNT:-5000000}"
WORK="$TESTNET_DIR/scenarios/btc-stake"

step() { echo "== $*"; }
info() { echo "   $*"; }
die() {
  echo "btc-stake: FAILED: $*" >&2
  exit 1
}

# --- what the testnet provides --------------------------------------------------------------------
[ -f "$TESTNET_DIR/bin.env" ] || die "no testnet in $TESTNET_DIR (no bin.env): run testnet/up.sh first"
# shellcheck disable=SC1091
. "$TESTNET_DIR/bin.env"
BALLASTD="${BALLASTD_BIN:-${TESTNET_BALLASTD:-}}"
if [ -z "$BALLASTD" ] || [ ! -x "$BALLASTD" ]; then
  die "no ballastd to run: set BALLASTD_BIN"
fi
if [ -z "${BTC_PREFIX:-}" ] || [ ! -f "$BTC_DIR/rpc.env" ]; then
  die "the testnet has no bitcoind (started with BALLAST_TESTNET_NO_BITCOIN=1?)"
fi
# shellcheck disable=SC1091
. "$BTC_DIR/rpc.env"
command -v python3 >/dev/null 2>&1 || die "python3 not found: this script reads the CLI's JSON with it"
N="$(node_count)"
[ "$N" -ge 1 ] || die "no node homes in $TESTNET_DIR"
NODE="${BALLAST_NODE:-$(rpc_url "$TESTNET_DIR/node0")}"
mkdir -p "$WORK"
# The staker commands read the password from the environment, not the command line.
export BITCOIN_RPC_PASSWORD="$BTC_RPC_PASSWORD"
BTC_FLAGS=(--bitcoin-rpc-url "http://127.0.0.1:$BTC_RPC_PORT" --bitcoin-wallet "$BTC_WALLET"
  --bitcoin-rpc-user ballast)

# jget PATH: the value at PATH (keys and list indexes joined by dots) of the JSON on stdin;
# strings bare, other values as JSON, "" when absent.
jget() {
  python3 -c '
import json, sys
v = json.load(sys.stdin)
for part in sys.argv[1].split(".") if sys.argv[1] else []:
    if isinstance(v, list):
        v = v[int(part)] if int(part) < len(v) else None
    elif isinstance(v, dict):
        v = v.get(part)
    else:
        v = None
print("" if v is None else v if isinstance(v, str) else json.dumps(v))
' "$1"
}

# q ARGS...: a query against $NODE, as JSON.
q() { "$BALLASTD" query "$@" --node "$NODE" -o json; }

# tx HOME ARGS...: a tx command signed from HOME's test keyring, as JSON.
tx() {
  local home="$1"
  shift
  "$BALLASTD" "$@" --home "$home" --keyring-backend test --node "$NODE" -y -o json
}

# mine N: N regtest blocks into the testnet wallet.
mine() { btc_cli -rpcwallet="$BTC_WALLET" -generate "$1" >/dev/null; }

# weighted AMOUNT WEIGHT: floor(AMOUNT × WEIGHT) for a decimal WEIGHT, in integers.
weighted() {
  python3 -c '
import sys
from decimal import Decimal
from math import floor
print(floor(Decimal(sys.argv[1]) * Decimal(sys.argv[2])))
' "$1" "$2"
}

status_of() { q restaking btc-delegation "$1" 2>/dev/null | jget delegation.status || true; }
power_of() { q restaking operator "$1" | jget power.power; }
hub_power_of() {
  q restaking hub-validators | python3 -c '
import json, sys
v = json.load(sys.stdin)
print(v["epoch"], next((x["power"] for x in v["validators"] if x["operator_btc_pk"] == sys.argv[1]), "none"))
' "$1"
}

# diagnostics TXID: what to look at after a failure.
diagnostics() {
  echo "--- delegation $1:" >&2
  q restaking btc-delegation "$1" 2>&1 | python3 -c '
import json, sys
text = sys.stdin.read()
try:
    d = json.loads(text)["delegation"]
    for k in ("status", "start_height", "end_height", "unbonding_btc_height", "inclusion_block_hash"):
        print("   ", k, d.get(k))
    print("    covenant signatures:", len(d.get("covenant_sigs", [])))
except Exception:
    print(text)
' >&2 || true
  echo "--- light client tip: $(q btclightclient tip 2>/dev/null | jget header.height) (bitcoind: $(btc_cli getblockcount))" >&2
  shopt -s nullglob
  for log in "$TESTNET_DIR"/logs/covenant-*.log "$TESTNET_DIR/logs/vigilante.log"; do
    echo "--- last lines of $log:" >&2
    tail -n 8 "$log" >&2 || true
  done
}

# wait_status TXID WANT: polls the delegation (mining a block every few polls, in case the
# testnet's miner is slow) until it is WANT; fails on a status it can never leave, or after
# $TIMEOUT seconds.
wait_status() {
  local txid="$1" want="$2" start=$SECONDS last="" st polls=0
  while true; do
    st="$(status_of "$txid")"
    if [ "$st" != "$last" ]; then
      info "delegation is ${st:-unknown}"
      last="$st"
    fi
    [ "$st" = "$want" ] && return 0
    case "$st" in EXPIRED | SLASHED | UNBONDED)
      diagnostics "$txid"
      die "delegation $txid is $st while waiting for $want"
      ;;
    esac
    if [ $((SECONDS - start)) -ge "$TIMEOUT" ]; then
      diagnostics "$txid"
      die "delegation $txid is ${st:-unknown}, not $want, after ${TIMEOUT}s"
    fi
    polls=$((polls + 1))
    [ $((polls % 4)) -eq 0 ] && mine 1
    sleep 0.5
  done
}

# wait_hub_power PK WANT: waits until the hub validator set gives operator PK power WANT.
wait_hub_power() {
  local start=$SECONDS got
  while true; do
    got="$(hub_power_of "$1")"
    if [ "${got#* }" = "$2" ]; then
      info "hub validator set of epoch ${got%% *}: operator power $2"
      return 0
    fi
    [ $((SECONDS - start)) -lt "$TIMEOUT" ] ||
      die "the hub set gives operator $1 power ${got#* } (epoch ${got%% *}), expected $2 within ${TIMEOUT}s"
    sleep 0.5
  done
}

# --- 0. the chain's rules -------------------------------------------------------------------------
step "reading the restaking params from $NODE"
PARAMS="$(q restaking params)" || die "cannot query $NODE: is the testnet up (testnet/status.sh)?"
p() { jget "params.$1" <<<"$PARAMS"; }
K="$(p btc.btc_confirmation_depth)"
UNBONDING_TIME="$(p btc.unbonding_time)"
MIN_TIME="$(p btc.min_staking_time)"
MAX_TIME="$(p btc.max_staking_time)"
MIN_VALUE="$(p btc.min_staking_value_sat)"
MAX_VALUE="$(p btc.max_staking_value_sat)"
WEIGHT="$(p btc_power_weight)"
COVENANTS="$(p btc.covenant_pks | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
QUORUM="$(p btc.covenant_quorum)"
[ "$COVENANTS" -gt 0 ] || die "the chain has no covenant committee: it cannot take BTC delegations"
info "k=$K unbonding_time=$UNBONDING_TIME staking time $MIN_TIME..$MAX_TIME value $MIN_VALUE..$MAX_VALUE sat, btc_power_weight $WEIGHT, covenant quorum $QUORUM of $COVENANTS"
[ "$AMOUNT" -lt "$MIN_VALUE" ] && AMOUNT="$MIN_VALUE"
[ "$AMOUNT" -gt "$MAX_VALUE" ] && AMOUNT="$MAX_VALUE"
# Long enough that the delegation is far from expiry for the whole scenario.
STAKING_TIME=$((2 * UNBONDING_TIME + K + 100))
[ "$STAKING_TIME" -lt "$MIN_TIME" ] && STAKING_TIME="$MIN_TIME"
[ "$STAKING_TIME" -gt "$MAX_TIME" ] && STAKING_TIME="$MAX_TIME"
[ "$STAKING_TIME" -gt $((UNBONDING_TIME + K + 10)) ] ||
  die "max_staking_time $MAX_TIME leaves no room above unbonding_time + k"

OPERATOR="${BTC_STAKE_OPERATOR:-$(q restaking operators | jget operators.0.btc_pk)}"
[ -n "$OPERATOR" ] || die "the chain has no operator to stake to"
POWER0="$(power_of "$OPERATOR")" || die "no operator $OPERATOR"
DELTA="$(weighted "$AMOUNT" "$WEIGHT")"
info "operator $OPERATOR: power $POWER0; staking $AMOUNT sat adds $DELTA"

# --- 1. the staker ----------------------------------------------------------------------------------
step "staker account and BTC key in $WORK"
if ! STAKER="$("$BALLASTD" keys show staker --home "$WORK" --keyring-backend test -o json 2>/dev/null | jget address)" || [ -z "$STAKER" ]; then
  STAKER="$("$BALLASTD" keys add staker --home "$WORK" --keyring-backend test -o json | jget address)"
fi
BALANCE="$(q bank balances "$STAKER" --denom ubal | jget balance.amount)" || BALANCE=0
if [ "${BALANCE:-0}" -lt 100000000 ]; then
  # Node N-1's account pays (node 0's is the vigilante's); a sequence race with another sender
  # of that account is retried.
  J=$((N - 1))
  funded=""
  for attempt in 1 2 3; do
    if out="$(tx "$TESTNET_DIR/node$J" tx bank send "node$J" "$STAKER" 1000000000ubal 2>&1)" &&
      [ "$(jget code <<<"$out")" = "0" ]; then
      funded=1
      break
    fi
    info "funding attempt $attempt failed: $out"
    sleep 2
  done
  [ -n "$funded" ] || die "could not fund the staker $STAKER from node$J's account"
  info "funded $STAKER with 1000 BAL from node$J"
fi
info "staker account $STAKER"
KEY="$WORK/staker_btc_key.json"
if [ ! -f "$KEY" ]; then
  "$BALLASTD" btc keygen --out "$KEY" >/dev/null
fi
info "staker BTC key $(jget public_key <"$KEY")"

# --- 2. stake -----------------------------------------------------------------------------------------
step "staking $AMOUNT sat for $STAKING_TIME blocks (btc stake --wait-inclusion); mining a block a second"
"$BALLASTD" btc stake --amount "$AMOUNT" --operator "$OPERATOR" --staking-time "$STAKING_TIME" \
  --btc-key "$KEY" --fee-rate 2 --wait-inclusion --poll-interval 1 --inclusion-timeout "$TIMEOUT" \
  "${BTC_FLAGS[@]}" --from staker --home "$WORK" --keyring-backend test --node "$NODE" -y -o json \
  >"$WORK/stake.json" 2>"$WORK/stake.log" &
STAKE_PID=$!
start=$SECONDS
while pid_running "$STAKE_PID"; do
  if [ $((SECONDS - start)) -ge $((TIMEOUT + 30)) ]; then
    kill "$STAKE_PID" 2>/dev/null || true
    die "btc stake did not finish within ${TIMEOUT}s; its log:
$(cat "$WORK/stake.log")"
  fi
  sleep 1
  mine 1
done
if ! wait "$STAKE_PID"; then
  die "btc stake failed:
$(cat "$WORK/stake.log")
$(cat "$WORK/stake.json")"
fi
sed 's/^/   stake: /' "$WORK/stake.log"
STAKE="$(cat "$WORK/stake.json")"
TXID="$(jget staking_txid <<<"$STAKE")"
[ -n "$TXID" ] || die "btc stake printed no staking_txid: $STAKE"
[ "$(jget delegation_tx.code <<<"$STAKE")" = "0" ] || die "the delegation tx failed: $STAKE"
[ "$(jget inclusion_proof_tx.code <<<"$STAKE")" = "0" ] || die "the inclusion proof tx failed: $STAKE"
info "staking tx $TXID: delegation registered at hub height $(jget delegation_tx.height <<<"$STAKE"), inclusion proven at $(jget inclusion_proof_tx.height <<<"$STAKE")"
CONF="$(btc_cli getrawtransaction "$TXID" true | jget confirmations)"
info "bitcoind: the staking tx has ${CONF:-0} confirmations"

step "waiting for ACTIVE (covenant quorum $QUORUM of $COVENANTS, k=$K)"
wait_status "$TXID" ACTIVE
D="$(q restaking btc-delegation "$TXID")"
info "ACTIVE: staking tx in BTC block $(jget delegation.start_height <<<"$D"), timelock ends at $(jget delegation.end_height <<<"$D"), $(jget delegation.covenant_sigs <<<"$D" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') covenant signatures"

step "checking the operator's power"
POWER1="$(power_of "$OPERATOR")"
[ "$POWER1" -eq $((POWER0 + DELTA)) ] ||
  die "operator power is $POWER1 after activation, expected $POWER0 + $DELTA"
info "live power $POWER0 -> $POWER1"
wait_hub_power "$OPERATOR" "$POWER1"

# --- 3. unbond -----------------------------------------------------------------------------------------
step "unbonding (btc unbond)"
UNBOND="$("$BALLASTD" btc unbond --staking-txid "$TXID" --btc-key "$KEY" "${BTC_FLAGS[@]}" \
  --from staker --home "$WORK" --keyring-backend test --node "$NODE" -y -o json 2>"$WORK/unbond.log")" ||
  die "btc unbond failed:
$(cat "$WORK/unbond.log")
$UNBOND"
UNBONDING_TXID="$(jget unbonding_txid <<<"$UNBOND")"
[ "$(jget code <<<"$UNBOND")" = "0" ] || die "MsgBtcUndelegate failed: $UNBOND"
info "unbonding tx $UNBONDING_TXID broadcast; MsgBtcUndelegate at hub height $(jget height <<<"$UNBOND")"
btc_cli getrawtransaction "$UNBONDING_TXID" >/dev/null 2>&1 ||
  die "bitcoind does not know the unbonding tx $UNBONDING_TXID"
ST="$(status_of "$TXID")"
[ "$ST" = "UNBONDING" ] || die "delegation is ${ST:-unknown} after btc unbond, expected UNBONDING"
D="$(q restaking btc-delegation "$TXID")"
UNBONDING_HEIGHT="$(jget delegation.unbonding_btc_height <<<"$D")"
UNBONDED_AT=$((UNBONDING_HEIGHT + UNBONDING_TIME))
info "UNBONDING since BTC height $UNBONDING_HEIGHT: UNBONDED at $UNBONDED_AT"
POWER2="$(power_of "$OPERATOR")"
[ "$POWER2" -eq "$POWER0" ] || die "operator power is $POWER2 after unbonding, expected $POWER0"
info "live power $POWER1 -> $POWER2"
wait_hub_power "$OPERATOR" "$POWER0"

# --- 4. the unbonding time ---------------------------------------------------------------------------
HEIGHT="$(btc_cli getblockcount)"
if [ "$HEIGHT" -lt "$UNBONDED_AT" ]; then
  step "mining $((UNBONDED_AT - HEIGHT)) blocks to BTC height $UNBONDED_AT"
  mine $((UNBONDED_AT - HEIGHT))
fi
CONF="$(btc_cli getrawtransaction "$UNBONDING_TXID" true | jget confirmations)"
info "bitcoind: the unbonding tx has ${CONF:-0} confirmations"
step "waiting for UNBONDED"
wait_status "$TXID" UNBONDED
POWER3="$(power_of "$OPERATOR")"
[ "$POWER3" -eq "$POWER0" ] || die "operator power is $POWER3 after UNBONDED, expected $POWER0"
wait_hub_power "$OPERATOR" "$POWER0"

echo "btc-stake: OK: delegation $TXID went ACTIVE (power $POWER0 -> $POWER1) and UNBONDED (power back to $POWER0)"
