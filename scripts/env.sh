# Shared settings for Ballast's scripts. Builds are cached outside the clone, so a fresh clone
# (CI's included) reuses the previous build on the same machine.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ballast/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Incremental compilation caches take tens of GB across the workspace's many test binaries and
# only speed up edit-compile loops; scripted builds go without.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
mkdir -p "$CARGO_TARGET_DIR"
