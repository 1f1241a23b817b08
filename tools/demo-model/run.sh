#!/bin/sh
# One training session of the demo model: VAE (options after END are passed to `train.py vae`, e.g. --resume), the
# latent bank, then UNet + text encoder from scratch until END (UTC, HH:MM). UNET=0 stops after the VAE.
# Usage: tools/demo-model/run.sh OUT VAE_MIN END_HHMM [train.py vae options...]
# The bundled model's three sessions are listed in packages/demo-model/README.md ("Reproducing").
set -e
cd "$(dirname "$0")"
OUT=${1:?usage: run.sh OUT VAE_MIN END_HHMM [vae options]}
VAE_MIN=${2:-40}
END=${3:-}
shift 3 || shift $#
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MALLOC_PERTURB_=255
PY=${PYTHON:-/usr/bin/python3}
$PY train.py vae --out "$OUT" --minutes "$VAE_MIN" "$@"
[ "${UNET:-1}" = 0 ] && exit 0
$PY train.py bank --out "$OUT" --bank "${BANK:-2048}"
if [ -n "$END" ]; then
  UNET_MIN=$(( ( $(date -u -d "$END" +%s) - $(date -u +%s) ) / 60 ))
else
  UNET_MIN=${UNET_MIN:-50}
fi
$PY train.py unet --out "$OUT" --minutes "$UNET_MIN"
