#!/usr/bin/env bash
# Installs Debian's redis-server for the scale-out tests (test/server/redis.test.ts starts its own instance on
# 127.0.0.1 on a free port and stops it). Idempotent: does nothing when a redis-server binary is on PATH.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
  echo "install-redis: $(redis-server --version | cut -d' ' -f1-3) already present"
  exit 0
fi
if [[ $(id -u) != 0 ]]; then
  echo "install-redis: needs root (apt-get) to install redis-server" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends redis-server >/dev/null
command -v redis-server >/dev/null || { echo "install-redis: redis-server still missing" >&2; exit 1; }
echo "install-redis: installed $(redis-server --version | cut -d' ' -f1-3)"
