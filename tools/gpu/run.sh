#!/usr/bin/env bash
# The prepared GPU work, one slice per device call (each fits one call of at most about 9 minutes). Here, first:
#   bash tools/gpu/gather.sh [imagenette2-96|cifar10]   # wheels and one data set into the ignored .gpu/
# then through the device tool, carrying .gpu (and, for the le-* slices, the ignored partial results, see below):
#   bash tools/gpu/run.sh SLICE                          # results land in $OUT (the device tool's) or /tmp/out
# On this CPU, before spending GPU minutes: DRY_RUN=1 bash tools/gpu/run.sh SLICE runs the same commands at toy size
# (le-imagenette: 48 px, 2-epoch trials, the whole slice to its results files in 14 minutes here beside a benchmark; r50: 33 s).
# (The options behind today's gpu step were measured by this script's first slice at commit 5e6f375:
# benchmarks/results/throughput-gpu-r50-options.md.)
# Slices:
#   r50            issue 31's bar: the gpu-r50 default (PatchNorm, fused Adam, compiled forward) against `previous default`,
#                  interleaved at batch 32 (three models at 128 do not fit in 140 GB), and the GPU profiles at 128 of both (~2 min)
#   paper          the same for gpu-paper (resnet161), at batch 32 (variants at 16); more than 190 s of device time
#   peers          issue 27 on the GPU: CPC (the gpu run size's model) against lightly's SimCLR and BYOL on its ResNet-18, 2 minutes
#                  of GPU time each, probed every minute, Imagenette 96 px at the gpu profile's 64 px
#   le-imagenette  the label-efficiency benchmark, `gpu` profile, Imagenette 96 px; resumable: each call continues
#   le-cifar10     where the last one stopped (pre-training first, which must finish within one call; then the runs,
#                  each kept in the partial results as it finishes). Back here after each call:
#                    cp $files_at/*-encoder.safetensors models/label-efficiency/; cp $files_at/gpu-*-converged* benchmarks/results/
#                  and carry benchmarks/results/gpu-<data>-converged.partial.json in the next call (the encoder is
#                  committed: git add -f models/label-efficiency/...-encoder.safetensors).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
if [ -n "${DRY_RUN:-}" ]; then
  PY=.venv/bin/python; OUT=${OUT:-/tmp/gpu-dry}; mkdir -p "$OUT"
  tp_toy=(--config cpu-tiny --bs 4 --steps 2 --warmup 1); le_toy=(--n-pool 200 --n-valid 100 --pre-epochs 1 --fracs 0.1 --seeds 1 --max-mult 1 --n-tune 3 --size 48 --patch-size 12 --min-epochs 1 --min-steps 2 --cache "$OUT/models")
  RESULTS=$OUT
else
  source tools/gpu/setup.sh || exit 1
  PY=python3; OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
  tp_toy=(); le_toy=(); RESULTS=benchmarks/results
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
tp() { timeout ${LIMIT:-480} $PY -m benchmarks.throughput --data-batches 0 --images ~/.fastai/data/imagenette2-96/train --out "$OUT" "$@" "${tp_toy[@]}" 2>&1 | grep -v Warning | tee -a "$OUT/throughput.log"; }
le() {
  timeout ${LIMIT:-500} $PY -m benchmarks.label_efficiency --profile gpu --datasets "$1" --out "$RESULTS" "${le_toy[@]}" 2>&1 | grep -v Warning | tee -a "$OUT/le.log"
  [ -n "${DRY_RUN:-}" ] && return
  cp benchmarks/results/gpu-$1-converged.* "$OUT"/ 2>/dev/null
  cp "$(ls -t models/label-efficiency/*-encoder.safetensors | head -1)" "$OUT"/
}
case "${1:-}" in
  r50)   if [ -n "${DRY_RUN:-}" ]; then tp --variants 'previous default' 'without fused Adam'
         else tp --config gpu-r50 --bs 128 --gpu-busy --gpu-busy-variants 'previous default' --variants-bs 32 \
                 --variants 'previous default' 'without torch.compile'; fi ;;  # fused Adam alone: throughput-gpu-r50-options.md
  paper) if [ -n "${DRY_RUN:-}" ]; then tp --variants 'previous default'
         else tp --config gpu-paper --bs 32 --gpu-busy --gpu-busy-variants 'previous default' --variants-bs 16 \
                 --variants 'previous default' 'without torch.compile'; fi ;;
  peers) if [ -n "${DRY_RUN:-}" ]; then args=(--minutes 0.05 --every 0.05 --per-class 5 --n-valid-cpc 20 --sanity-steps 0 --variants default,simclr-tiny,byol-tiny)
         else args=(--profile gpu --minutes 2 --every 1 --sanity-steps 0 --variants default,simclr-resnet18,byol-resnet18); fi
         timeout ${LIMIT:-500} $PY -m benchmarks.pretrain_efficiency --data imagenette-96 --tag=-peers --out "$OUT" "${args[@]}" 2>&1 | grep -v Warning | tee -a "$OUT/peers.log" ;;
  le-imagenette) le imagenette-96 ;;
  le-cifar10)    le cifar10 ;;
  *) echo "usage: [DRY_RUN=1] bash tools/gpu/run.sh r50|paper|peers|le-imagenette|le-cifar10"; exit 2 ;;
esac
