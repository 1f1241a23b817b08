#!/usr/bin/env bash
# One-time set-up of a fresh machine: the CPU Vulkan driver when no usable one is installed and redis-server (for the
# scale-out tests) when missing (needs root; skipped when present or when not on Debian/Ubuntu), then the npm dependencies (npm ci).
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v apt-get >/dev/null 2>&1; then
  if [[ $(id -u) == 0 ]]; then bash scripts/install-vulkan-cpu.sh && bash scripts/install-redis.sh
  elif command -v sudo >/dev/null 2>&1; then sudo bash scripts/install-vulkan-cpu.sh && sudo bash scripts/install-redis.sh
  else echo "setup: not root: skipping the Vulkan CPU driver and redis-server installs (run scripts/install-vulkan-cpu.sh and scripts/install-redis.sh as root)" >&2
  fi
fi
if [[ ! -d node_modules/webgpu || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi
