# Shared settings for Ballast's scripts. Builds are cached outside the clone, so a fresh clone
# (CI's included) reuses the previous build on the same machine.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ballast/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
mkdir -p "$CARGO_TARGET_DIR"
