#!/usr/bin/env bash
# The GPU benchmark in one command:
#   bench/gpu/run.sh [--quick] [--out DIR] [--rows all] [--iters N] [--no-torch] [--no-models] [--allow-cpu]
#
# Uses .device/ on a machine without node_modules (../shared/device/pack.sh: Node, dawn.node and the Vulkan loader),
# else this machine's node and node_modules/webgpu. The TypeScript is bundled into one file first
# (`--bundle-only` just does that, into .device/gpu-bench.mjs, for carrying to a machine without node_modules).
# Table on stdout, JSON in --out (default bench/results/gpu). --quick: small shapes, CPU adapters allowed, tiny model.
# Exit codes: 2 usage, 3 Dawn/Vulkan loader missing, 4 no (GPU) adapter, 5 Dawn too old, 1 anything else.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
die() { echo "bench/gpu/run.sh: $1" >&2; exit "${2:-1}"; }

bundle_only=false
args=()
for a in "$@"; do
  case $a in
    --bundle-only) bundle_only=true ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) args+=("$a") ;;
  esac
done

node=node
# .device/ is for a machine without node_modules (the lent GPU machine); unpack.sh installs loaders into /, so it is
# never sourced where node_modules/webgpu exists.
if [[ -f .device/unpack.sh && ! -d node_modules/webgpu ]] && ! $bundle_only; then
  # shellcheck disable=SC1091
  . .device/unpack.sh >/dev/null || die "sourcing .device/unpack.sh failed (re-run ../shared/device/pack.sh)" 3
  node=.device/bin/node
  export SD_WEBGPU_DAWN_NODE="$root/.device/bin/dawn.node"
fi
command -v "$node" >/dev/null || die "no node binary (install Node >= 20, or carry .device/ from ../shared/device/pack.sh)" 3

bundle=.device/gpu-bench.mjs
[[ -d .device ]] || bundle=node_modules/.cache/sd-webgpu/gpu-bench.mjs
if [[ -d node_modules/esbuild ]]; then
  mkdir -p "$(dirname "$bundle")"
  "$node" bench/gpu/bundle.mjs "$bundle" >/dev/null || die "bundling bench/gpu/entry.ts failed"
elif [[ ! -f $bundle ]]; then
  die "no $bundle and no node_modules to build it: run 'bench/gpu/run.sh --bundle-only' where npm ci was run" 2
fi
$bundle_only && { echo "$bundle"; exit 0; }

export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp}
exec "$node" "$bundle" ${args[@]+"${args[@]}"}
