#!/usr/bin/env bash
# The prepared GPU work, one slice per device call (each fits one call of at most about 9 minutes). Here, first:
#   bash tools/gpu/gather.sh            # wheels and the 96 px data into the ignored .gpu/
# then through the device tool, carrying .gpu:
#   bash tools/gpu/run.sh SLICE          # results land in $OUT (the device tool's) or /tmp/out
# (The candidates of the current default were measured by this script's `throughput` slice at commit 5e6f375:
# benchmarks/results/throughput-gpu-r50-options.md.)
# Slices:
#   r50          issue 31's bar: today's gpu-r50 default (PatchNorm, fused Adam, compiled forward) against `previous default`,
#                interleaved at batch 128, and the GPU profiles (busy share, copies) of both
#   paper        the same for gpu-paper (resnet161), at batch 32 (variants at 16)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source tools/gpu/setup.sh || exit 1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
tp() { timeout ${LIMIT:-480} python3 benchmarks/throughput.py --data-batches 0 --images ~/.fastai/data/imagenette2-96/train --out "$OUT" "$@" 2>&1 | grep -v Warning | tee -a "$OUT/throughput.log"; }
case "${1:-}" in
  r50)     tp --config gpu-r50 --bs 128 --gpu-busy --gpu-busy-variants 'previous default' --variants-bs 128 \
              --variants 'previous default' 'without torch.compile' 'without fused Adam' ;;
  paper)   tp --config gpu-paper --bs 32 --gpu-busy --gpu-busy-variants 'previous default' --variants-bs 16 \
              --variants 'previous default' 'without torch.compile' ;;
  *) echo "usage: bash tools/gpu/run.sh r50|paper"; exit 2 ;;
esac
