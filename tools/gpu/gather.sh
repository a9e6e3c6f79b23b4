#!/usr/bin/env bash
# Gather here what the GPU machine lacks, into the ignored folder .gpu/ that the device tool carries:
# wheels (Python 3.12, x86-64) of the package's dependencies its image does not hold, and the data sets named
# (default: the 96 px Imagenette that the `gpu` profile reads). The working tree that travels is capped at 64 MiB:
# carry one data set per call (imagenette2-96 is 38 MB, cifar10 19 MB).
# Usage: bash tools/gpu/gather.sh [imagenette2-96|cifar10 ...]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
mkdir -p .gpu/whl .gpu/data
PY=${PYTHON:-.venv/bin/python}
# The image has torch, torchvision, accelerate, safetensors, numpy, pandas, matplotlib, scipy, scikit-learn and pillow
# (the device tool's KINDS.md); not fastai and its own small dependencies, nor kornia.
pkgs=$("$PY" - <<'PY'
from importlib.metadata import version
pinned = {'fastprogress': '1.0.3'}  # 1.1 imports fasthtml (and its web stack), which the image lacks; fastai runs with 1.0.3
print(' '.join(f'{p}=={pinned.get(p) or version(p)}' for p in ['fastai', 'fastcore', 'fastprogress', 'fasttransform', 'fastdownload',
                                                              'plum-dispatch', 'beartype', 'kornia', 'kornia_rs']))
PY
)
for p in $pkgs; do
  name=${p%%==*}
  ls .gpu/whl | grep -qi "^${name//-/_}-${p##*==}-" && continue
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .gpu/whl "$p"
done
rm -f .gpu/data/*  # one data set per call: the working tree that travels is capped at 64 MiB
for d in "${@:-imagenette2-96}"; do cp ../shared/data/$d.tgz .gpu/data/; done
du -sh .gpu/whl .gpu/data/*
