#!/usr/bin/env bash
# Build Ballast, start a node, and drive it through CometBFT's ABCI call sequence with signed
# transfers; then kill it with SIGKILL, restart it, and show that it resumes from its last
# commit. Usage: scripts/load.sh [blocks] [txs-per-block] [accounts]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

BLOCKS="${1:-20}"
TXS="${2:-500}"
ACCOUNTS="${3:-1000}"

echo "== building ballastd and ballast-load (release; cached in $CARGO_TARGET_DIR)"
cargo build --release -p ballastd -p ballast-load
BIN="$CARGO_TARGET_DIR/release"

HOME_DIR="$(mktemp -d "${TMPDIR:-/tmp}/ballast-run.XXXXXX")"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
ABCI="tcp://127.0.0.1:$PORT"
PID=""
cleanup() { [ -n "$PID" ] && kill -9 "$PID" 2>/dev/null || true; }
trap cleanup EXIT

start_node() {
  "$BIN/ballastd" start --home "$HOME_DIR" --abci "$ABCI" >>"$HOME_DIR/ballastd.out" 2>>"$HOME_DIR/ballastd.log" &
  PID=$!
  for _ in $(seq 1 100); do
    grep -q "ABCI listening" "$HOME_DIR/ballastd.out" 2>/dev/null && return 0
    kill -0 "$PID" 2>/dev/null || { echo "ballastd exited; log:"; cat "$HOME_DIR/ballastd.log"; exit 1; }
    sleep 0.1
  done
  echo "ballastd did not start"; exit 1
}

echo "== starting ballastd (home $HOME_DIR, ABCI $ABCI)"
start_node
echo "== driving $BLOCKS blocks of $TXS signed transfers over ABCI"
"$BIN/ballast-load" --abci "$ABCI" --blocks "$BLOCKS" --txs-per-block "$TXS" --accounts "$ACCOUNTS"

echo "== kill -9 and restart: the node resumes from its last commit"
kill -9 "$PID"; wait "$PID" 2>/dev/null || true
: >"$HOME_DIR/ballastd.out"
start_node
grep -E "ballastd serving ABCI" "$HOME_DIR/ballastd.log" | tail -n 1
echo "== done; node logs in $HOME_DIR"
