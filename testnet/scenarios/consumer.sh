#!/usr/bin/env bash
# A consumer leases the running local testnet's security (testnet/up.sh, best with
# BALLAST_TESTNET_CONSUMER=1 so that the demo consumer follows it):
#
#   1. the consumer's owner account (the demo consumer's key `consumer` in consumer/, funded once
#      from a node's account) registers the consumer (`ballastd tx consumers register`) unless it
#      exists, and funds its lease (`tx consumers fund`);
#   2. two operators opt in (`tx consumers opt-in`), signed by their owners' keys from the node
#      homes (node0 and node1), each with a consumer key from a CometBFT priv_validator_key.json
#      of its own and its own allocation. A testnet with a single node home (a dev chain laid out
#      as node0) gets a second operator first: registered with `tx restaking register-operator`
#      and bonded, from the scenario's own keyring;
#   3. at the end of the epoch the consumer is ACTIVE and its validator set holds both keys, each
#      with floor(allocation × operator power in that epoch's snapshot / 10000);
#   4. the stream: the demo consumer's verified-update lines when it runs (testnet/up.sh with
#      BALLAST_TESTNET_CONSUMER=1), else a short subscription by `ballast-consumer run` with a
#      scratch data dir, stopped once it has verified the current update.
#
# Every step is printed; any failure or timeout exits 1 with what was seen.
#
#   testnet/scenarios/consumer.sh
#
# Environment:
#   BALLAST_TESTNET_DIR     the testnet directory (default ~/.cache/ballast/testnet)
#   BALLASTD_BIN            ballastd to run (default: the one up.sh ran, from bin.env)
#   BALLAST_CONSUMER_BIN    ballast-consumer to run (default: the one up.sh ran, from bin.env)
#   BALLAST_NODE            CometBFT RPC to use (default: node 0's, from its config.toml)
#   BALLAST_GRPC            gRPC (host:port) for the short subscription (default: node 0's, from
#                           its ballast.toml)
#   CONSUMER_ID             the consumer (default: the demo consumer's, from consumer/consumer.toml,
#                           else demo-consumer-1)
#   CONSUMER_FEE            ubal per epoch (default 1000)
#   CONSUMER_LEASE          ubal added to the lease (default 1000000)
#   CONSUMER_ALLOCATIONS    the two operators' allocations in basis points (default "6000 4000")
#   CONSUMER_TIMEOUT        seconds each wait may take (default 180)
#
# The scenario's keyring, keys and outputs are in $BALLAST_TESTNET_DIR/scenarios/consumer/;
# running it again on the same consumer funds it again and re-sends the same opt-ins.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
# shellcheck source=testnet/lib.sh
. "$ROOT/testnet/lib.sh"

TIMEOUT="${CONSUMER_TIMEOUT:-180}"
FEE="${CONSUMER_FEE:-1000}"
LEASE="${CONSUMER_LEASE:-1000000}"
read -r -a ALLOCATIONS <<<"${CONSUMER_ALLOCATIONS:-6000 4000}"
WORK="$TESTNET_DIR/scenarios/consumer"

step() { echo "== $*"; }
info() { echo "   $*"; }
die() {
  echo "consumer: FAILED: $*" >&2
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
CONSUMER_BIN="${BALLAST_CONSUMER_BIN:-${TESTNET_CONSUMER:-}}"
if [ -z "$CONSUMER_BIN" ] || [ ! -x "$CONSUMER_BIN" ]; then
  die "no ballast-consumer to show the stream with: start the testnet with BALLAST_TESTNET_CONSUMER=1 or set BALLAST_CONSUMER_BIN"
fi
[ "${#ALLOCATIONS[@]}" -eq 2 ] || die "CONSUMER_ALLOCATIONS must hold two numbers, found '${CONSUMER_ALLOCATIONS:-}'"
command -v python3 >/dev/null 2>&1 || die "python3 not found: this script reads the CLI's JSON with it"
N="$(node_count)"
[ "$N" -ge 1 ] || die "no node homes in $TESTNET_DIR"
NODE="${BALLAST_NODE:-$(rpc_url "$TESTNET_DIR/node0")}"
CONSUMER_ID="${CONSUMER_ID:-$(consumer_id_of_config || true)}"
CONSUMER_ID="${CONSUMER_ID:-demo-consumer-1}"
mkdir -p "$WORK"

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

# tx HOME ARGS...: a tx command signed from HOME's test keyring, as JSON; a failure's stderr is
# in $WORK/last-tx.err.
tx() {
  local home="$1"
  shift
  "$BALLASTD" "$@" --home "$home" --keyring-backend test --node "$NODE" -y -o json 2>"$WORK/last-tx.err"
}

# tx_retry WHAT HOME ARGS...: tx, retried twice (a node account may be sending at the same time
# from the vigilante or a covenant signer: its sequence moves under us); dies with the outcome.
tx_retry() {
  local what="$1" out attempt
  shift
  for attempt in 1 2 3; do
    if out="$(tx "$@")" && [ "$(jget code <<<"$out")" = "0" ]; then
      echo "$out"
      return 0
    fi
    info "$what: attempt $attempt failed: ${out:-}$(tr '\n' ' ' <"$WORK/last-tx.err")" >&2
    sleep 2
  done
  die "$what failed: ${out:-} $(cat "$WORK/last-tx.err")"
}

# key_address HOME NAME: the address of key NAME in HOME's test keyring ("" if none).
key_address() {
  "$BALLASTD" keys show "$2" --home "$1" --keyring-backend test -o json 2>/dev/null | jget address || true
}

# key_named HOME ADDRESS: the name of the key with ADDRESS in HOME's test keyring ("" if none).
key_named() {
  "$BALLASTD" keys list --home "$1" --keyring-backend test -o json 2>/dev/null | python3 -c '
import json, sys
print(next((k["name"] for k in json.load(sys.stdin) if k["address"] == sys.argv[1]), ""))
' "$2"
}

# ensure_funded HOME NAME: creates key NAME in HOME's keyring if needed and, below 100 BAL,
# sends it 1000 BAL from node N-1's account (node 0's is the vigilante's).
ensure_funded() {
  local home="$1" name="$2" addr balance j=$((N - 1))
  addr="$(key_address "$home" "$name")"
  if [ -z "$addr" ]; then
    addr="$("$BALLASTD" keys add "$name" --home "$home" --keyring-backend test -o json | jget address)"
    [ -n "$addr" ] || die "could not create key $name in $home"
  fi
  balance="$(q bank balances "$addr" --denom ubal | jget balance.amount)" || balance=0
  if [ "${balance:-0}" -lt 100000000 ]; then
    [ -n "$(key_address "$TESTNET_DIR/node$j" "node$j")" ] ||
      die "node$j's home has no key node$j to fund $addr with"
    tx_retry "funding $name" "$TESTNET_DIR/node$j" tx bank send "node$j" "$addr" 1000000000ubal >/dev/null
    info "funded $name ($addr) with 1000 BAL from node$j"
  fi
}

# diagnostics: what to look at after a failure.
diagnostics() {
  echo "--- consumer $CONSUMER_ID:" >&2
  q consumers consumer "$CONSUMER_ID" >&2 2>&1 || true
  echo "--- its opt-ins:" >&2
  q consumers opt-ins "$CONSUMER_ID" >&2 2>&1 || true
  echo "--- its validator set:" >&2
  q consumers validator-set "$CONSUMER_ID" >&2 2>&1 || true
  if [ -f "$TESTNET_DIR/logs/consumer.log" ]; then
    echo "--- last lines of $TESTNET_DIR/logs/consumer.log:" >&2
    tail -n 10 "$TESTNET_DIR/logs/consumer.log" >&2 || true
  fi
}

# --- 0. the chain's rules -------------------------------------------------------------------------
step "reading the consumers params from $NODE"
PARAMS="$(q consumers params)" || die "cannot query $NODE: is the testnet up (testnet/status.sh)?"
info "max_reuse_ratio $(jget params.max_reuse_ratio <<<"$PARAMS"), deallocation delay $(jget params.deallocation_delay_epochs <<<"$PARAMS") epochs, min fee $(jget params.min_fee_per_epoch <<<"$PARAMS") ubal"

# --- 1. register and fund ---------------------------------------------------------------------------
step "consumer $CONSUMER_ID: owner key 'consumer' in $CONSUMER_DIR"
mkdir -p "$CONSUMER_DIR"
ensure_funded "$CONSUMER_DIR" consumer
OWNER="$(key_address "$CONSUMER_DIR" consumer)"
info "owner $OWNER"
STATUS="$(q consumers consumer "$CONSUMER_ID" 2>/dev/null | jget consumer.status || true)"
case "$STATUS" in
  "")
    step "registering $CONSUMER_ID (fee $FEE ubal per epoch, shared stake)"
    OUT="$(tx_retry "register" "$CONSUMER_DIR" tx consumers register "$CONSUMER_ID" \
      --name "$CONSUMER_ID (testnet scenario)" --fee-per-epoch "$FEE" --min-operators 1 \
      --max-operators 10 --from consumer)"
    info "registered at hub height $(jget height <<<"$OUT"): $(jget status <<<"$OUT")"
    ;;
  STOPPED)
    die "consumer $CONSUMER_ID is STOPPED, which is final: set CONSUMER_ID to a new id"
    ;;
  *)
    info "already registered: $STATUS"
    ;;
esac
step "funding its lease with $LEASE ubal"
OUT="$(tx_retry "fund" "$CONSUMER_DIR" tx consumers fund "$CONSUMER_ID" "$LEASE" --from consumer)"
info "lease balance $(jget lease_balance <<<"$OUT") ubal"

# --- 2. two operators ----------------------------------------------------------------------------------
# OP_PK[i], OP_HOME[i], OP_KEY[i]: operator i's BTC key, the home whose keyring has its owner's
# key, and that key's name.
OP_PK=()
OP_HOME=()
OP_KEY=()
for i in 0 1; do
  [ -d "$TESTNET_DIR/node$i" ] || continue
  pk="$(jget public_key <"$TESTNET_DIR/node$i/config/operator_btc_key.json")"
  owner="$(q restaking operator "$pk" 2>/dev/null | jget operator.owner || true)"
  [ -n "$owner" ] || die "node$i's operator $pk is not registered on the chain"
  name="$(key_named "$TESTNET_DIR/node$i" "$owner")"
  [ -n "$name" ] || die "node$i's keyring has no key for its operator's owner $owner"
  OP_PK+=("$pk")
  OP_HOME+=("$TESTNET_DIR/node$i")
  OP_KEY+=("$name")
done
if [ "${#OP_PK[@]}" -lt 2 ]; then
  step "one node home only: a second operator from the scenario's keyring"
  ensure_funded "$WORK" operator
  KEYFILE="$WORK/operator_btc_key.json"
  [ -f "$KEYFILE" ] || "$BALLASTD" btc keygen --out "$KEYFILE" >/dev/null
  pk="$(jget public_key <"$KEYFILE")"
  if ! q restaking operator "$pk" >/dev/null 2>&1; then
    tx_retry "register-operator" "$WORK" tx restaking register-operator --btc-key "$KEYFILE" \
      --commission 0.05 --moniker scenario-operator --from operator >/dev/null
    tx_retry "bond" "$WORK" tx restaking bond "$pk" 100000000ubal --from operator >/dev/null
    info "registered operator $pk and bonded 100 BAL to it"
  fi
  OP_PK+=("$pk")
  OP_HOME+=("$WORK")
  OP_KEY+=("operator")
fi

step "opting two operators in"
KEYS=()
for i in 0 1; do
  # The consumer chain's validator key of operator i: a CometBFT home of its own.
  vhome="$WORK/$CONSUMER_ID/validator$i"
  if [ ! -f "$vhome/config/priv_validator_key.json" ]; then
    "$BALLASTD" init "validator$i" --home "$vhome" --chain-id "$CONSUMER_ID" >/dev/null 2>&1 ||
      die "could not write a validator key in $vhome"
  fi
  OUT="$(tx_retry "opt-in of operator ${OP_PK[$i]}" "${OP_HOME[$i]}" tx consumers opt-in "$CONSUMER_ID" \
    "$vhome/config/priv_validator_key.json" --allocation-bps "${ALLOCATIONS[$i]}" \
    --operator "${OP_PK[$i]}" --from "${OP_KEY[$i]}")"
  KEYS+=("$(python3 -c '
import base64, json, sys
print(base64.b64decode(json.load(open(sys.argv[1]))["pub_key"]["value"]).hex())
' "$vhome/config/priv_validator_key.json")")
  info "operator ${OP_PK[$i]} (owner key ${OP_KEY[$i]}): ${ALLOCATIONS[$i]} bps, consumer key ${KEYS[$i]}, effective after epoch $(jget effective_after_epoch <<<"$OUT")"
done

# --- 3. the epoch end -------------------------------------------------------------------------------------
# set_check: "ok <update_id> <epoch>" when the set holds both keys with the powers the epoch's
# snapshot gives, else what is missing.
set_check() {
  local set snap
  set="$(q consumers validator-set "$CONSUMER_ID" 2>/dev/null)" || {
    echo "no set yet"
    return
  }
  epoch="$(jget set.epoch <<<"$set")"
  [ -n "$epoch" ] || {
    echo "no set yet"
    return
  }
  snap="$(q restaking power-snapshot "$epoch" 2>/dev/null)" || snap='{"powers": []}'
  python3 -c '
import json, sys
s = json.loads(sys.argv[1])["set"]
snap = {p["operator_btc_pk"]: int(p["power"]) for p in json.loads(sys.argv[2])["powers"]}
want = list(zip(sys.argv[3].split(), sys.argv[4].split(), map(int, sys.argv[5].split())))
have = {v["pubkey"]: v for v in s["validators"]}
missing = []
for op, key, bps in want:
    p = bps * snap.get(op, 0) // 10000
    v = have.get(key)
    if v is None or int(v["power"]) != p or v["operator_btc_pk"] != op:
        missing.append("%s power %d (has %s)" % (key[:12], p, v["power"] if v else "none"))
print("ok %s %s" % (s["update_id"], s["epoch"]) if not missing else "epoch %s: waiting for %s" % (s["epoch"], ", ".join(missing)))
' "$set" "$snap" "${OP_PK[*]}" "${KEYS[*]}" "${ALLOCATIONS[*]}"
}

step "waiting for the epoch end: ACTIVE, both keys in the set"
start=$SECONDS
last=""
while true; do
  got="$(set_check)"
  if [ "$got" != "$last" ]; then
    info "$got"
    last="$got"
  fi
  [ "${got%% *}" = "ok" ] && break
  if [ $((SECONDS - start)) -ge "$TIMEOUT" ]; then
    diagnostics
    die "the set of $CONSUMER_ID does not hold both operators after ${TIMEOUT}s: $got"
  fi
  sleep 1
done
read -r _ UPDATE_ID SET_EPOCH <<<"$got"
C="$(q consumers consumer "$CONSUMER_ID")"
ST="$(jget consumer.status <<<"$C")"
[ "$ST" = "ACTIVE" ] || {
  diagnostics
  die "consumer $CONSUMER_ID is $ST with both operators in its set, expected ACTIVE"
}
info "ACTIVE since epoch $(jget consumer.activated_epoch <<<"$C"); lease $(jget consumer.lease_balance <<<"$C") ubal, paid $(jget consumer.total_paid <<<"$C") ubal so far"
q consumers validator-set "$CONSUMER_ID" | python3 -c '
import json, sys
s = json.load(sys.stdin)["set"]
print("   set after update %s (epoch %s, hub height %s), hash %s:" % (s["update_id"], s["epoch"], s["hub_height"], s["set_hash"]))
for v in s["validators"]:
    print("     key %s  power %-6s operator %s" % (v["pubkey"], v["power"], v["operator_btc_pk"]))
'

# --- 4. the stream ---------------------------------------------------------------------------------------
# verified_lines FILE: the ballast-consumer lines of verified updates in FILE.
verified_lines() { grep -E '^update_id=[0-9]+ .*verified' "$1" 2>/dev/null || true; }
# has_update FILE ID: FILE has the verified line of update ID.
has_update() { verified_lines "$1" | grep -q "^update_id=$2 "; }

if consumer_alive && [ "$(consumer_id_of_config)" = "$CONSUMER_ID" ]; then
  LOG="$TESTNET_DIR/logs/consumer.log"
  step "the demo consumer's stream (PID $(cat "$TESTNET_DIR/pids/consumer"), $LOG)"
  start=$SECONDS
  until has_update "$LOG" "$UPDATE_ID"; do
    if ! consumer_alive; then
      tail -n 20 "$LOG" >&2
      die "the demo consumer stopped before verifying update $UPDATE_ID"
    fi
    if [ $((SECONDS - start)) -ge "$TIMEOUT" ]; then
      diagnostics
      die "the demo consumer did not verify update $UPDATE_ID within ${TIMEOUT}s"
    fi
    sleep 0.5
  done
  verified_lines "$LOG" | sed 's/^/   consumer: /'
else
  GRPC="${BALLAST_GRPC:-$(toml_get "$TESTNET_DIR/node0/config/ballast.toml" grpc address)}"
  SUB="$WORK/$CONSUMER_ID/stream"
  step "a short subscription: ballast-consumer run from update 0 over $GRPC (no demo consumer of $CONSUMER_ID runs)"
  rm -rf "$SUB"
  mkdir -p "$SUB"
  "$CONSUMER_BIN" init --config "$SUB/consumer.toml" --consumer-id "$CONSUMER_ID" --hub-grpc "$GRPC" \
    --hub-rpc "$NODE" --data-dir "$SUB/data" >/dev/null || die "ballast-consumer init failed"
  NO_COLOR=1 "$CONSUMER_BIN" run --config "$SUB/consumer.toml" --trust-on-first-use </dev/null >"$SUB/stdout" 2>"$SUB/stderr" &
  SUB_PID=$!
  start=$SECONDS
  until has_update "$SUB/stdout" "$UPDATE_ID"; do
    if ! pid_running "$SUB_PID"; then
      cat "$SUB/stdout" "$SUB/stderr" >&2
      die "ballast-consumer run exited before verifying update $UPDATE_ID"
    fi
    if [ $((SECONDS - start)) -ge "$TIMEOUT" ]; then
      kill "$SUB_PID" 2>/dev/null || true
      tail -n 20 "$SUB/stderr" >&2
      die "ballast-consumer run did not verify update $UPDATE_ID within ${TIMEOUT}s"
    fi
    sleep 0.5
  done
  kill -TERM "$SUB_PID" 2>/dev/null || true
  wait "$SUB_PID" 2>/dev/null || true
  verified_lines "$SUB/stdout" | sed 's/^/   stream: /'
fi

echo "consumer: OK: $CONSUMER_ID is ACTIVE with operators ${OP_PK[0]} (${ALLOCATIONS[0]} bps) and ${OP_PK[1]} (${ALLOCATIONS[1]} bps) in update $UPDATE_ID of epoch $SET_EPOCH"
