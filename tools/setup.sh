#!/usr/bin/env bash
# Set up fastai_cpc for development on a fresh machine: a virtual environment in .venv with PyTorch,
# the package (editable) and its dev extras; then, if the project's shared data sets sit beside the
# checkout (../shared/data), extract them into $FASTAI_HOME/data where fastai's untar_data finds them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# PyTorch first, pinned: pip then keeps it when it installs fastai. On a machine without a GPU, a CPU build is a
# fraction of the size: TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu bash tools/setup.sh
.venv/bin/python -m pip install -q ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "torch==${TORCH_VERSION:-2.14.1}" "torchvision==${TORCHVISION_VERSION:-0.29.1}"
.venv/bin/python -m pip install -q -e '.[dev,bench]'
# The docs test opens the built site in Debian's Chromium. As root with apt (CI, containers) it is installed
# here, unless SKIP_CHROMIUM=1 (tests/test_docs.py is then skipped); otherwise say how.
if [ -z "${SKIP_CHROMIUM:-}" ] && { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; }; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "setup: Chromium not found; tests/test_docs.py needs it: sudo apt-get install chromium chromium-driver"
  fi
fi
# Only what the README's commands and the tests read (Imagenette 160 px); the benchmarks' other data sets on first
# need: FASTAI_CPC_DATA="imagenette2-160 imagenette2-96 cifar10" bash tools/setup.sh
if [ -f ../shared/tools/seed_fastai_home.sh ]; then bash ../shared/tools/seed_fastai_home.sh ${FASTAI_CPC_DATA:-imagenette2-160}; fi
echo "setup: done ($(.venv/bin/python -c 'import torch, fastai; print(f"torch {torch.__version__}, fastai {fastai.__version__}")'))"
