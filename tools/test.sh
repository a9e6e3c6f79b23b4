#!/usr/bin/env bash
# Run every test: the notebooks' test cells (nbdev-test), then the pytest suites in tests/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# two notebooks at a time on two cores, one thread each (two threads each would oversubscribe the cores)
OMP_NUM_THREADS=1 .venv/bin/nbdev-test --n-workers 2
.venv/bin/python -m pytest tests -q
