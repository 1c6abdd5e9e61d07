#!/usr/bin/env bash
# Creates (once) the virtualenv the generic gRPC client runs in and installs its pinned
# dependencies (requirements.txt: grpcio, grpcio-reflection, protobuf) from PyPI wheels.
# Prints the venv's python on the last line of stdout.
#
#   tests/grpc-generic/setup.sh
#
# Environment:
#   BALLAST_PY_DIR   where venvs live (default ~/.cache/ballast/py); this one is
#                    $BALLAST_PY_DIR/grpc-generic-<hash of requirements.txt>
#   PYTHON           the python3 to build the venv from (default python3)
#
# Exit status: 0 ready; 3 the dependencies cannot be installed (no python3 venv support, or pip
# cannot reach PyPI / finds no wheel), with the reason on stderr; 1 anything else.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REQ="$HERE/requirements.txt"
PY="${PYTHON:-python3}"

cannot() {
  echo "grpc-generic setup: cannot install the client's dependencies: $*" >&2
  exit 3
}

command -v "$PY" >/dev/null 2>&1 || cannot "$PY not found"
HASH="$(sha256sum "$REQ" | cut -c1-12)"
BASE="${BALLAST_PY_DIR:-$HOME/.cache/ballast/py}"
VENV="$BASE/grpc-generic-$HASH"

# A venv is complete once the marker exists: an interrupted install is redone from scratch.
if [ ! -f "$VENV/.installed" ]; then
  rm -rf "$VENV"
  mkdir -p "$BASE"
  "$PY" -m venv "$VENV" >&2 || cannot "$PY -m venv failed (is the python3-venv package installed?)"
  # Wheels only: building grpcio from source takes a long time and a C++ toolchain.
  if ! "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input \
    --only-binary=:all: -r "$REQ" >"$VENV.pip.log" 2>&1; then
    tail -n 5 "$VENV.pip.log" >&2
    rm -rf "$VENV"
    cannot "pip install -r $REQ failed (no network to PyPI, or no wheel for this python); log in $VENV.pip.log"
  fi
  touch "$VENV/.installed"
fi
"$VENV/bin/python" -c 'import grpc, grpc_reflection, google.protobuf' >&2 ||
  cannot "the venv $VENV does not import grpc, grpc_reflection and google.protobuf"
echo "$VENV/bin/python"
