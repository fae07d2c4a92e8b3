#!/usr/bin/env bash
# Installs everything the tests need on a fresh Debian/Ubuntu machine and runs the test suite.
# Used by the README and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
if command -v apt-get >/dev/null 2>&1; then
  # lavapipe (software Vulkan) so wgpu has an adapter without a GPU; FFmpeg libs come with PyAV's wheel.
  if ! dpkg -s mesa-vulkan-drivers libvulkan1 fonts-dejavu-core >/dev/null 2>&1; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 fonts-dejavu-core >/dev/null
  fi
fi
python3 -m pip install -q --disable-pip-version-check -e ".[test]"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
python3 -m pytest -q "$@"
