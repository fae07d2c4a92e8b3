#!/usr/bin/env bash
# System packages gpurender needs on a Debian/Ubuntu machine without a GPU: lavapipe (software
# Vulkan) so wgpu has an adapter, and a font for text layers. FFmpeg comes inside PyAV's wheel.
set -euo pipefail
command -v apt-get >/dev/null 2>&1 || exit 0
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! dpkg -s mesa-vulkan-drivers libvulkan1 fonts-dejavu-core >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mesa-vulkan-drivers libvulkan1 fonts-dejavu-core >/dev/null
fi
