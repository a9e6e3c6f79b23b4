#!/usr/bin/env bash
# Run every test: the notebooks' test cells (nbdev-test), then the pytest suites in tests/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
.venv/bin/nbdev-test --n-workers 2
.venv/bin/python -m pytest tests -q
