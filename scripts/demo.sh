#!/usr/bin/env bash
# Sets up a fresh Debian/Ubuntu machine and renders the built-in demo (10 s of 720p30 over a
# synthesized track) to demo.mp4, or to the path given as the first argument.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-system.sh
python3 -m pip install -q --disable-pip-version-check .
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
python3 -m gpurender demo -o "${1:-demo.mp4}"
