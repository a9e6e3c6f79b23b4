#!/usr/bin/env bash
# The prepared GPU work, one slice per device call (each fits one call of at most about 9 minutes). Here, first:
#   bash tools/gpu/gather.sh            # wheels and the 96 px data into the ignored .gpu/
# then through the device tool, carrying .gpu:
#   bash tools/gpu/run.sh SLICE          # results land in $OUT (the device tool's) or /tmp/out
# Slices:
#   throughput   issue 31: the gpu-r50 step as configured against candidate options (norm forms, compile, fused Adam),
#                interleaved at batch 32, and GPU profiles (busy share, copies) of the configuration and of the best eager option
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source tools/gpu/setup.sh || exit 1
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
case "${1:-}" in
  throughput)
    timeout ${LIMIT:-440} python3 benchmarks/throughput.py --config gpu-r50 --bs 128 --data-batches 0 --images ~/.fastai/data/imagenette2-96/train \
      --gpu-busy --gpu-busy-variants 'layer_norm + fused Adam' 'patch norm as group_norm in bf16' --variants-bs 32 \
      --variants 'contiguous (NCHW)' 'fused Adam' 'fp32' 'patch norm as layer_norm in bf16' 'patch norm as group_norm in bf16' \
                 'layer_norm + fused Adam' 'torch.compile + fused Adam' 'torch.compile + fused Adam + layer_norm' \
      --out "$OUT" --tag -options 2>&1 | grep -v Warning | tee "$OUT/throughput.log" ;;
  *) echo "usage: bash tools/gpu/run.sh throughput"; exit 2 ;;
esac
