#!/usr/bin/env bash
# On the GPU machine (source it: `source tools/gpu/setup.sh`): install the carried wheels into /tmp/site, put the
# carried data sets where fastai's `untar_data` finds them, and make the package importable from this checkout.
set -e
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
mkdir -p ~/.fastai/data
for f in .gpu/data/*.tgz; do [ -e "$f" ] && tar -xzf "$f" -C ~/.fastai/data; done
python3 -c 'import torch, fastai, fastai_cpc; print("gpu setup:", torch.__version__, fastai.__version__, torch.cuda.get_device_name())'
set +e
