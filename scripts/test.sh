#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian/Ubuntu machine and runs the test suite.
# Used by the README and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-system.sh
python3 -m pip install -q --disable-pip-version-check -e ".[test]"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
python3 -m pytest -q "$@"
