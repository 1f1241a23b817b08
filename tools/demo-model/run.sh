#!/bin/sh
# The demo model's training run: VAE, latent bank, then UNet + text encoder until END (UTC, HH:MM) or for UNET_MIN minutes.
# Usage: tools/demo-model/run.sh OUT [VAE_MIN] [END_HHMM]
set -e
cd "$(dirname "$0")"
OUT=${1:-runs/main}
VAE_MIN=${2:-12}
END=${3:-}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MALLOC_PERTURB_=255
PY=${PYTHON:-/usr/bin/python3}
$PY train.py vae --out "$OUT" --minutes "$VAE_MIN"
$PY train.py bank --out "$OUT"
if [ -n "$END" ]; then
  UNET_MIN=$(( ( $(date -u -d "$END" +%s) - $(date -u +%s) ) / 60 ))
else
  UNET_MIN=${UNET_MIN:-50}
fi
$PY train.py unet --out "$OUT" --minutes "$UNET_MIN"
