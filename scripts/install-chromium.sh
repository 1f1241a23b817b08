#!/usr/bin/env bash
# Installs Debian's chromium (the browser the headless page test drives through playwright-core; no browser download
# from npm). Idempotent: does nothing when /usr/bin/chromium exists. Needs root and apt; runs `apt-get update` only
# when the package lists do not know chromium yet.
set -euo pipefail

if [[ -x /usr/bin/chromium ]]; then
  echo "install-chromium: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) already present"
  exit 0
fi
if [[ $(id -u) != 0 ]]; then
  echo "install-chromium: needs root (apt-get) to install chromium" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
install() { apt-get install -y --no-install-recommends chromium; }
install || { apt-get update && install; }
/usr/bin/chromium --version
