#!/usr/bin/env bash
# The CPU runs the open issues still need, in order, one at a time (never two benchmarks at once on 2 cores). Every step
# resumes where the last session stopped: label_efficiency keeps every finished run and every finished trial of a selection
# in its partial results, a pre-training resumes from its last epoch, pretrain_efficiency keeps its finished variants.
# Start it first thing in a session, in the background:
#   nohup bash tools/cpu_queue.sh > /tmp/cpu-queue.log 2>&1 &
#   grep -h "^\[" $LOGS/*.log | tail          # what it is doing (the logs hold progress bars: do not cat them)
# Before the session ends, commit what it wrote, the ignored parts forced:
#   git add -f benchmarks/results/*.partial.json benchmarks/results/leads/*/*.partial.json models/label-efficiency/*-encoder.safetensors
# (the encoders are a few MB and cost up to an hour and a half each here). STEPS="3 4" runs only those steps.
# The order: what the open issues' bars need (1-10% of the labels, 3 seeds, on both data sets) before the larger fractions (one seed).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
LOGS=${LOGS:-/tmp/fastai_cpc-logs}; mkdir -p "$LOGS"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
le() { .venv/bin/python -m benchmarks.label_efficiency --profile cpu "$@"; }
e60_lead=benchmarks/results/leads/pretrain-e60/cpu-imagenette-converged.json
# the resnet head's lead: its trials and runs count where the rule (which now chooses the head too) makes the same choice
heads=$(ls -t benchmarks/results/leads/head-resnet/cpu-imagenette-converged*.json | head -1); leads="$e60_lead,$heads"
step() {
  case $1 in
    # issue 26: Imagenette, 3 seeds at 1-10% (the fine-tuned runs at 1-2% come from the 60-epoch lead), then one seed above
    1) le --datasets imagenette --fracs 0.01,0.02,0.05,0.1 --sides cpc_finetune,cpc_frozen,scratch,fastai --runs-from $leads >> "$LOGS/le-imagenette.log" ;;
    # 2a first: the factor at 10% reads the best from-scratch side at 20%
    2a) le --datasets imagenette --fracs 0.2 --sides scratch,fastai --runs-from $leads >> "$LOGS/le-imagenette.log" ;;
    2) le --datasets imagenette --fracs 0.2,0.5,1 --sides cpc_finetune,cpc_frozen,scratch,fastai --runs-from $leads >> "$LOGS/le-imagenette.log" ;;
    # issue 26's second view: scratch for CPC's compute, pre-training included (first seed; about an hour a fraction); at 10% too,
    # where scratch chose the 16x cap of epochs while its held-out accuracy still rose
    3) le --datasets imagenette --fracs 0.01,0.02,0.1 --sides cpc_finetune,scratch,scratch_equal --runs-from $leads >> "$LOGS/le-imagenette.log" ;;
    # bf16 against fp32 on the same subsets and seeds, every side on the fixed short schedule (cheap: minutes a run): does the precision
    # CIFAR-10's converged run and the peers use change accuracy? (Imagenette, 1% and 10%; each precision pre-trains its own 60-epoch encoder)
    bf) for p in False True; do le --protocol fixed --datasets imagenette --fracs 0.01,0.1 --sides cpc_finetune,cpc_frozen,scratch --bf16 $p \
          --out benchmarks/results/leads/bf16-$p >> "$LOGS/le-bf16.log"; done ;;
    # issue 26 on CIFAR-10 (in bf16, the profile's setting for it: every side and the pre-training)
    4) le --datasets cifar10 --fracs 0.01,0.02,0.05,0.1 --sides cpc_finetune,cpc_frozen,scratch,fastai >> "$LOGS/le-cifar10.log" ;;
    5) le --datasets cifar10 --fracs 0.2,0.5,1 --sides cpc_finetune,cpc_frozen,scratch,fastai >> "$LOGS/le-cifar10.log" ;;
    # issue 27: lightly's SimCLR and BYOL beside CPC at 30 CPU-minutes each, then all three fine-tuned as cpc_finetune is
    # in bf16 (`CPUMixedPrecision`, 1.6-1.9x a training step on this AMX CPU): every method gets the same speed-up's chance at equal CPU time
    6) .venv/bin/python -m benchmarks.pretrain_efficiency --data imagenette --variants default,simclr-resnet18,byol-resnet18,simclr-tiny,byol-tiny \
         --minutes 30 --every 10 --bf16 True --tag=-peers >> "$LOGS/peers-imagenette.log" ;;
    # step 7 fine-tunes the ResNet-18 backbones step 6 leaves in models/pretrain/cpu-imagenette-30min/ (45 MB each: not committed,
    # so 6 and 7 belong in one session, or 6 again)
    7) le --datasets imagenette --fracs 0.01,0.02,0.05,0.1 --sides simclr_finetune,byol_finetune,cpc30_finetune --runs-from $leads >> "$LOGS/le-imagenette.log" ;;
    # issue 30: distillation from the fine-tuned classifier on every training image
    8) le --datasets imagenette --fracs 0.01,0.02,0.05,0.1 --sides cpc_finetune,cpc_distill --runs-from $leads >> "$LOGS/le-imagenette.log" ;;
    # issues 27 and 30 on CIFAR-10 (6c and 7c in one session, as 6 and 7)
    6c) .venv/bin/python -m benchmarks.pretrain_efficiency --data cifar10 --variants default,simclr-resnet18,byol-resnet18,simclr-tiny,byol-tiny \
          --minutes 30 --every 10 --bf16 True --tag=-peers >> "$LOGS/peers-cifar10.log" ;;
    7c) le --datasets cifar10 --fracs 0.01,0.02,0.05,0.1 --sides simclr_finetune,byol_finetune,cpc30_finetune >> "$LOGS/le-cifar10.log" ;;
    8c) le --datasets cifar10 --fracs 0.01,0.02,0.05,0.1 --sides cpc_finetune,cpc_distill >> "$LOGS/le-cifar10.log" ;;
    *) echo "cpu_queue: no step $1"; return 1 ;;
  esac
}
for s in ${STEPS:-1 2a 4 3 6 7 8 6c 7c 8c 2 5}; do
  echo "[$(date -u +%H:%M:%S)] cpu_queue: step $s"
  step "$s" || echo "[$(date -u +%H:%M:%S)] cpu_queue: step $s failed ($?): see $LOGS"
done
