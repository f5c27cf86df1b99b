#!/usr/bin/env bash
# The Quix Streams peer's own virtualenv (var/peers-venv, git-ignored): Quix Streams is a benchmark
# peer, never a dependency of the product. Idempotent: does nothing when the pinned version is there.
#
#     bash benchmarks/peers/setup.sh            # prints the venv's python on its last line
set -euo pipefail

QUIXSTREAMS_VERSION="3.28.1"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${SALESFLOOR_PEERS_VENV:-$ROOT/var/peers-venv}"
PYTHON="${PYTHON:-python3}"

if [ -x "$VENV/bin/python" ] &&
    [ "$("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("quixstreams"))' 2>/dev/null)" = "$QUIXSTREAMS_VERSION" ]; then
    echo "$VENV/bin/python"
    exit 0
fi
mkdir -p "$(dirname "$VENV")"
"$PYTHON" -m venv "$VENV" >&2
"$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
"$VENV/bin/python" -m pip install --quiet "quixstreams==$QUIXSTREAMS_VERSION" >&2
echo "$VENV/bin/python"
