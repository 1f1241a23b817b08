#!/bin/sh
# Second session of the demo model's training (after run.sh's VAE phase reached only 268 steps, 13.8 dB, on the shared
# CPU): continue the VAE on cheap 16x16 crops (colour fidelity) then 32x32, re-encode a latent bank, train UNet + text
# encoder until END (UTC HH:MM). Usage: tools/demo-model/run2.sh OUT VAE_MIN END_HHMM
set -e
cd "$(dirname "$0")"
OUT=${1:-runs/main}
VAE_MIN=${2:-11}
END=${3:-17:38}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MALLOC_PERTURB_=255
PY=${PYTHON:-/usr/bin/python3}
$PY train.py vae --out "$OUT" --resume --seed 4321 --minutes "$VAE_MIN" --lr 1e-3 --crop 16 --batch 32 --full-from 0.75 --full-batch 8
$PY train.py bank --out "$OUT" --bank 1024
UNET_MIN=$(( ( $(date -u -d "$END" +%s) - $(date -u +%s) ) / 60 ))
$PY train.py unet --out "$OUT" --minutes "$UNET_MIN"
