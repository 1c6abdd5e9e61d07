#!/usr/bin/env bash
# Ballast's whole test suite: unit tests, mock-consensus, ABCI-socket and crash/restart tests.
# Tests that need a real CometBFT run when COMETBFT_BIN names one and say "skipped" otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
cargo test --workspace --all-targets --locked
