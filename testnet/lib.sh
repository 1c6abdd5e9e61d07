# Shared by up.sh, down.sh and status.sh; sourced, not run.
#
# Layout of a testnet directory ($BALLAST_TESTNET_DIR, default ~/.cache/ballast/testnet):
#   .ballast-testnet              marker: up.sh only ever wipes a directory that has it
#   bin.env                       the ballastd and cometbft binaries up.sh used
#   node<i>/                      node homes written by `ballastd testnet generate`
#   pids/node<i>.ballastd         PID of node i's `ballastd start`
#   pids/node<i>.cometbft         PID of node i's `cometbft start`
#   logs/node<i>.ballastd.log     its output
#   logs/node<i>.cometbft.log
#   covenant-<i>/                 covenant member i: covenant_key.json (written by `ballastd testnet
#                                 generate`, its public key is in genesis), covenant.toml and data/
#   pids/covenant-<i>             PID of its `ballast-covenant start`
#   logs/covenant-<i>.log
#
# Processes are found by these PID files only, never by name. A PID counts as ours only while
# that process is running (not a zombie) and its command line names the node's home, so a
# recycled PID is never signalled.

TESTNET_DIR="${BALLAST_TESTNET_DIR:-$HOME/.cache/ballast/testnet}"
TESTNET_MARKER=".ballast-testnet"

# toml_get FILE SECTION KEY: the value of KEY in [SECTION] ("" for top-level keys), quotes
# removed. Reads the files ballastd writes (one `key = value` per line).
toml_get() {
  awk -v want="$2" -v key="$3" '
    /^[[:space:]]*\[/ { s = $0; gsub(/^[[:space:]]*\[|\][[:space:]]*$/, "", s); section = s; next }
    section == want {
      line = $0
      if (match(line, "^[[:space:]]*" key "[[:space:]]*=")) {
        v = substr(line, RLENGTH + 1)
        gsub(/^[[:space:]]+|[[:space:]]+$/, "", v)
        gsub(/^"|"$/, "", v)
        print v
        exit
      }
    }' "$1"
}

# node_count: how many node<i> homes the testnet has.
node_count() {
  local n=0
  while [ -d "$TESTNET_DIR/node$n" ]; do n=$((n + 1)); done
  echo "$n"
}

# rpc_url HOME: http://host:port of the node's CometBFT RPC (from config.toml).
rpc_url() {
  local laddr hostport host port
  laddr="$(toml_get "$1/config/config.toml" rpc laddr)"
  hostport="${laddr#tcp://}"
  host="${hostport%:*}"
  port="${hostport##*:}"
  case "$host" in 0.0.0.0 | "") host=127.0.0.1 ;; esac
  echo "http://$host:$port"
}

# pid_running PID: the process exists and is not a zombie.
pid_running() {
  local state
  [ -n "$1" ] && [ -r "/proc/$1/stat" ] || return 1
  state="$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$1/stat" 2>/dev/null)" || return 1
  [ -n "$state" ] && [ "$state" != "Z" ] && [ "$state" != "X" ]
}

# pid_is_ours PID HOME: running, and its command line has `--home HOME`.
pid_is_ours() {
  pid_running "$1" || return 1
  # The trailing space keeps node1 from matching node10's command line.
  # (Process substitution, not a pipe: with pipefail a pipe's SIGPIPE would read as "no".)
  grep -qF -- "--home $2 " < <(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null)
}

# pidfile_alive FILE HOME: the PID in FILE is one of ours.
pidfile_alive() {
  [ -f "$1" ] && pid_is_ours "$(cat "$1")" "$2"
}

# stop_pidfile FILE HOME TIMEOUT [ARG]: TERM, then KILL after TIMEOUT seconds; removes FILE.
# The PID counts as ours when its command line has `--home HOME`, or with ARG, the argument ARG.
stop_pidfile() {
  local file="$1" home="$2" timeout="$3" arg="${4:-}" pid waited=0 ours=1
  [ -f "$file" ] || return 0
  pid="$(cat "$file")"
  if [ -n "$arg" ]; then
    pid_has_arg "$pid" "$arg" && ours=0
  else
    pid_is_ours "$pid" "$home" && ours=0
  fi
  if [ "$ours" -eq 0 ]; then
    kill -TERM "$pid" 2>/dev/null || true
    while pid_running "$pid" && [ "$waited" -lt $((timeout * 10)) ]; do
      sleep 0.1
      waited=$((waited + 1))
    done
    if pid_running "$pid"; then
      echo "  $(basename "$file"): PID $pid still running after ${timeout}s; sending KILL"
      kill -KILL "$pid" 2>/dev/null || true
      waited=0
      while pid_running "$pid" && [ "$waited" -lt 50 ]; do
        sleep 0.1
        waited=$((waited + 1))
      done
    fi
    echo "  stopped $(basename "$file") (PID $pid)"
  fi
  rm -f "$file"
}

# start_node I BALLASTD COMETBFT: starts node I's ballastd, waits for its ABCI listener, then
# starts its cometbft. Records both PIDs; appends to the logs.
start_node() {
  local i="$1" ballastd="$2" cometbft="$3"
  local home="$TESTNET_DIR/node$i" abci pid waited=0
  local blog="$TESTNET_DIR/logs/node$i.ballastd.log" clog="$TESTNET_DIR/logs/node$i.cometbft.log"
  mkdir -p "$TESTNET_DIR/pids" "$TESTNET_DIR/logs"
  abci="$(toml_get "$home/config/ballast.toml" abci address)"
  if [ -z "$abci" ]; then
    echo "no [abci] address in $home/config/ballast.toml" >&2
    return 1
  fi
  local mark
  mark="$(wc -l 2>/dev/null <"$blog" || echo 0)"
  # stdin/stdout/stderr are redirected so no caller's pipe is held open by the node.
  NO_COLOR=1 "$ballastd" start --home "$home" --abci "$abci" </dev/null >>"$blog" 2>&1 &
  pid=$!
  echo "$pid" >"$TESTNET_DIR/pids/node$i.ballastd"
  until awk -v m="$mark" 'NR > m && /ABCI listening on/ { f = 1 } END { exit !f }' "$blog" 2>/dev/null; do
    if ! pid_running "$pid"; then
      echo "node$i: ballastd exited before listening; last lines of $blog:" >&2
      tail -n 20 "$blog" >&2
      return 1
    fi
    if [ "$waited" -ge 600 ]; then
      echo "node$i: ballastd did not listen on $abci within 60s; see $blog" >&2
      return 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  "$cometbft" start --home "$home" </dev/null >>"$clog" 2>&1 &
  echo "$!" >"$TESTNET_DIR/pids/node$i.cometbft"
  echo "  node$i: ballastd PID $pid on $abci, cometbft PID $! with RPC $(rpc_url "$home")"
}

# wait_rpc I TIMEOUT: waits until node I's CometBFT RPC answers /status.
wait_rpc() {
  local i="$1" timeout="$2" home="$TESTNET_DIR/node$1" url waited=0
  url="$(rpc_url "$home")"
  until curl -sf --max-time 2 "$url/status" >/dev/null 2>&1; do
    for proc in ballastd cometbft; do
      if ! pidfile_alive "$TESTNET_DIR/pids/node$i.$proc" "$home"; then
        echo "node$i: $proc is not running; last lines of $TESTNET_DIR/logs/node$i.$proc.log:" >&2
        tail -n 30 "$TESTNET_DIR/logs/node$i.$proc.log" >&2 || true
        return 1
      fi
    done
    if [ "$waited" -ge $((timeout * 2)) ]; then
      echo "node$i: CometBFT RPC at $url did not answer within ${timeout}s" >&2
      return 1
    fi
    sleep 0.5
    waited=$((waited + 1))
  done
}

# find_cometbft: $COMETBFT_BIN, else cometbft on PATH; fails with a clear message.
find_cometbft() {
  local bin="${COMETBFT_BIN:-}"
  if [ -z "$bin" ]; then
    bin="$(command -v cometbft 2>/dev/null || true)"
  fi
  if [ -z "$bin" ]; then
    echo "cometbft not found: set COMETBFT_BIN to a CometBFT v0.38 binary or put cometbft on PATH" >&2
    return 1
  fi
  if [ ! -x "$bin" ]; then
    echo "cometbft not found: $bin (from COMETBFT_BIN) is not an executable file" >&2
    return 1
  fi
  local version
  version="$("$bin" version 2>/dev/null | head -n 1 || true)"
  case "$version" in
    0.38.* | v0.38.*) ;;
    *)
      echo "cometbft at $bin reports version '${version:-unknown}'; Ballast needs CometBFT v0.38.x" >&2
      return 1
      ;;
  esac
  echo "$bin"
}

# --- the regtest Bitcoin side ---------------------------------------------------------------------
#   bitcoind/                     regtest datadir; bitcoind/rpc.env holds its RPC port and password
#   pids/bitcoind, pids/miner     bitcoind (it runs under the sid loader, so never look for it by
#                                 name) and the mining loop (testnet/btc-miner.sh)
#   logs/bitcoind.log, logs/miner.log

BTC_DIR="$TESTNET_DIR/bitcoind"
BTC_WALLET="ballast"

# pid_has_arg PID ARG: running, and ARG is one of its command-line arguments.
pid_has_arg() {
  pid_running "$1" || return 1
  tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | grep -qxF -- "$2"
}

# btc_cli ARGS...: bitcoin-cli against the testnet's bitcoind (needs $BTC_PREFIX).
btc_cli() {
  # shellcheck disable=SC1091
  . "$BTC_DIR/rpc.env"
  "$BTC_PREFIX/bin/bitcoin-cli" -regtest -rpcconnect=127.0.0.1 -rpcport="$BTC_RPC_PORT" \
    -rpcuser=ballast -rpcpassword="$BTC_RPC_PASSWORD" "$@"
}

# start_bitcoind RPC_PORT P2P_PORT: starts the regtest bitcoind (keeping an existing datadir),
# waits for its RPC and loads or creates the wallet.
start_bitcoind() {
  local rpc_port="$1" p2p_port="$2" pid waited=0
  mkdir -p "$BTC_DIR" "$TESTNET_DIR/pids" "$TESTNET_DIR/logs"
  if [ ! -f "$BTC_DIR/rpc.env" ]; then
    {
      echo "BTC_RPC_PORT=$rpc_port"
      echo "BTC_P2P_PORT=$p2p_port"
      echo "BTC_RPC_PASSWORD=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    } >"$BTC_DIR/rpc.env"
    chmod 600 "$BTC_DIR/rpc.env"
  fi
  # shellcheck disable=SC1091
  . "$BTC_DIR/rpc.env"
  "$BTC_PREFIX/bin/bitcoind" -regtest -datadir="$BTC_DIR" -server -listen=1 -bind=127.0.0.1 \
    -port="$BTC_P2P_PORT" -rpcport="$BTC_RPC_PORT" -rpcbind=127.0.0.1 -rpcallowip=127.0.0.1 \
    -rpcuser=ballast -rpcpassword="$BTC_RPC_PASSWORD" -fallbackfee=0.0002 -txindex=1 \
    -printtoconsole=1 </dev/null >>"$TESTNET_DIR/logs/bitcoind.log" 2>&1 &
  pid=$!
  echo "$pid" >"$TESTNET_DIR/pids/bitcoind"
  until btc_cli getblockcount >/dev/null 2>&1; do
    if ! pid_running "$pid"; then
      echo "bitcoind exited; last lines of $TESTNET_DIR/logs/bitcoind.log:" >&2
      tail -n 20 "$TESTNET_DIR/logs/bitcoind.log" >&2
      return 1
    fi
    if [ "$waited" -ge 600 ]; then
      echo "bitcoind's RPC did not answer within 60s; see $TESTNET_DIR/logs/bitcoind.log" >&2
      return 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  if ! btc_cli listwallets | grep -q "\"$BTC_WALLET\""; then
    btc_cli loadwallet "$BTC_WALLET" >/dev/null 2>&1 || btc_cli createwallet "$BTC_WALLET" >/dev/null
  fi
  echo "  bitcoind: PID $pid, regtest RPC 127.0.0.1:$BTC_RPC_PORT, datadir $BTC_DIR"
}

# start_miner SECONDS: mines one regtest block every SECONDS seconds into the wallet.
start_miner() {
  BTC_PREFIX="$BTC_PREFIX" BALLAST_TESTNET_DIR="$TESTNET_DIR" \
    "$ROOT/testnet/btc-miner.sh" --interval "$1" --datadir "$BTC_DIR" \
    </dev/null >>"$TESTNET_DIR/logs/miner.log" 2>&1 &
  echo "$!" >"$TESTNET_DIR/pids/miner"
  echo "  miner: PID $!, a block every ${1}s"
}

# write_vigilante_config CHAIN_ID: vigilante/vigilante.toml, talking to node 0 (its RPC and gRPC)
# and to the testnet's bitcoind, signing with node 0's account (key `node0` in its keyring).
write_vigilante_config() {
  local home="$TESTNET_DIR/node0" grpc
  mkdir -p "$TESTNET_DIR/vigilante"
  grpc="$(toml_get "$home/config/ballast.toml" grpc address)"
  # shellcheck disable=SC1091
  . "$BTC_DIR/rpc.env"
  cat >"$TESTNET_DIR/vigilante/vigilante.toml" <<TOML
# Written by testnet/up.sh.
data_dir = "data"

[ballast]
rpc_address = "$(rpc_url "$home")"
grpc_address = "$grpc"
chain_id = "$1"
keyring_dir = "$home"
keyring_backend = "test"
key_name = "node0"

[bitcoin]
rpc_url = "http://127.0.0.1:$BTC_RPC_PORT"
wallet = "$BTC_WALLET"
rpc_user = "ballast"
rpc_password = "$BTC_RPC_PASSWORD"
network = "regtest"

[submitter]
poll_interval_ms = 1000

[reporter]
poll_interval_ms = 500
TOML
  chmod 600 "$TESTNET_DIR/vigilante/vigilante.toml"
}

# start_vigilante BIN: starts ballast-vigilante with the testnet's config.
start_vigilante() {
  local config="$TESTNET_DIR/vigilante/vigilante.toml"
  NO_COLOR=1 "$1" start --config "$config" </dev/null >>"$TESTNET_DIR/logs/vigilante.log" 2>&1 &
  echo "$!" >"$TESTNET_DIR/pids/vigilante"
  sleep 1
  if ! pid_running "$!"; then
    echo "the vigilante exited at once; last lines of $TESTNET_DIR/logs/vigilante.log:" >&2
    tail -n 20 "$TESTNET_DIR/logs/vigilante.log" >&2
    return 1
  fi
  echo "  vigilante: PID $!, config $config"
}

# --- covenant signers ------------------------------------------------------------------------------

# covenant_count: how many covenant-<i> directories with a key the testnet has.
covenant_count() {
  local n=0
  while [ -f "$TESTNET_DIR/covenant-$n/covenant_key.json" ]; do n=$((n + 1)); done
  echo "$n"
}

# covenant_pubkey I: covenant member I's x-only public key (hex), from its key file.
covenant_pubkey() {
  sed -n '/"public_key"/{s/.*"public_key"[[:space:]]*:[[:space:]]*"\([0-9a-fA-F]*\)".*/\1/p;q;}' \
    "$TESTNET_DIR/covenant-$1/covenant_key.json"
}

# covenant_node I N: the node whose account covenant member I sends its signatures with (and whose
# RPC and gRPC it uses): node (I + 1) mod N, so that with several nodes no member shares node 0's
# account with the vigilante.
covenant_node() {
  echo $((($1 + 1) % $2))
}

# write_covenant_config I N CHAIN_ID: covenant-I/covenant.toml, signing with covenant-I's key and
# paying with the account of node `covenant_node I N` (key `node<j>` in its keyring).
write_covenant_config() {
  local i="$1" j home dir grpc
  j="$(covenant_node "$1" "$2")"
  home="$TESTNET_DIR/node$j"
  dir="$TESTNET_DIR/covenant-$i"
  grpc="$(toml_get "$home/config/ballast.toml" grpc address)"
  cat >"$dir/covenant.toml" <<TOML
# Written by testnet/up.sh.
data_dir = "data"

[ballast]
rpc_address = "$(rpc_url "$home")"
grpc_address = "$grpc"
chain_id = "$3"
keyring_dir = "$home"
keyring_backend = "test"
key_name = "node$j"

[covenant]
key_file = "covenant_key.json"
poll_interval_ms = 1000
TOML
  chmod 600 "$dir/covenant.toml"
}

# start_covenant I BIN: starts ballast-covenant for covenant member I with covenant-I/covenant.toml.
start_covenant() {
  local i="$1" config="$TESTNET_DIR/covenant-$1/covenant.toml" log="$TESTNET_DIR/logs/covenant-$1.log" pid
  mkdir -p "$TESTNET_DIR/pids" "$TESTNET_DIR/logs"
  NO_COLOR=1 "$2" start --config "$config" </dev/null >>"$log" 2>&1 &
  pid=$!
  echo "$pid" >"$TESTNET_DIR/pids/covenant-$i"
  sleep 1
  if ! pid_running "$pid"; then
    echo "covenant-$i's signer exited at once; last lines of $log:" >&2
    tail -n 20 "$log" >&2
    return 1
  fi
  echo "  covenant-$i: PID $pid, key $(covenant_pubkey "$i"), config $config"
}

# --- the demo consumer (up.sh with BALLAST_TESTNET_CONSUMER=1) ------------------------------------
#   consumer/                     consumer.toml (written with `ballast-consumer init`), the keyring
#                                 of its key `consumer` (keyring-test/) and its data dir
#                                 (consumer-data/: the verified set, the light client's state)
#   pids/consumer                 PID of its `ballast-consumer run`
#   logs/consumer.log             its output: one line per verified update, then its logs

CONSUMER_DIR="$TESTNET_DIR/consumer"
CONSUMER_CONFIG="$CONSUMER_DIR/consumer.toml"

# write_consumer_config BIN BALLASTD CONSUMER_ID GRPC RPC: consumer/consumer.toml for consumer
# CONSUMER_ID following the hub at GRPC (host:port) and RPC (http://host:port), with its own key
# `consumer` (created once) in consumer/'s test keyring. An existing config is replaced; its data
# dir (the verified set) is kept.
write_consumer_config() {
  local bin="$1" ballastd="$2" id="$3" grpc="$4" rpc="$5"
  mkdir -p "$CONSUMER_DIR"
  if ! "$ballastd" keys show consumer --home "$CONSUMER_DIR" --keyring-backend test >/dev/null 2>&1; then
    "$ballastd" keys add consumer --home "$CONSUMER_DIR" --keyring-backend test -o json \
      >"$CONSUMER_DIR/key.json" || return 1
    chmod 600 "$CONSUMER_DIR/key.json"
  fi
  "$bin" init --config "$CONSUMER_CONFIG" --consumer-id "$id" --hub-grpc "$grpc" --hub-rpc "$rpc" \
    --keyring-dir "$CONSUMER_DIR" --keyring-backend test --key-name consumer \
    --data-dir "$CONSUMER_DIR/consumer-data" --force >/dev/null
}

# consumer_id_of_config: the consumer_id in consumer/consumer.toml ("" without one).
consumer_id_of_config() {
  [ -f "$CONSUMER_CONFIG" ] && toml_get "$CONSUMER_CONFIG" "" consumer_id
}

# start_consumer BIN: starts `ballast-consumer run` with consumer/consumer.toml; it waits for the
# consumer to be registered and follows its validator set from the last verified update. Its
# light client trusts node 0's first header (--trust-on-first-use: a local testnet's own node).
start_consumer() {
  local log="$TESTNET_DIR/logs/consumer.log" pid
  mkdir -p "$TESTNET_DIR/pids" "$TESTNET_DIR/logs"
  NO_COLOR=1 "$1" run --config "$CONSUMER_CONFIG" --trust-on-first-use </dev/null >>"$log" 2>&1 &
  pid=$!
  echo "$pid" >"$TESTNET_DIR/pids/consumer"
  sleep 1
  if ! pid_running "$pid"; then
    echo "the demo consumer exited at once; last lines of $log:" >&2
    tail -n 20 "$log" >&2
    return 1
  fi
  echo "  consumer: PID $pid, consumer $(consumer_id_of_config), config $CONSUMER_CONFIG"
}

# consumer_alive: the demo consumer recorded in pids/consumer is running.
consumer_alive() {
  [ -f "$TESTNET_DIR/pids/consumer" ] && pid_has_arg "$(cat "$TESTNET_DIR/pids/consumer")" "$CONSUMER_CONFIG"
}

# consumer_last_update: the demo consumer's last verified-update line in its log ("" if none).
consumer_last_update() {
  grep -E '^update_id=[0-9]+ .*verified' "$TESTNET_DIR/logs/consumer.log" 2>/dev/null | tail -n 1
}
