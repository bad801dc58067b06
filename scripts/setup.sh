#!/usr/bin/env bash
# Creates .venv and installs astroexplore with everything the app, notebooks and tests need.
# Idempotent: re-running only installs what is missing. Uses the CPU build of torch (constraints.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints.txt "torch==2.13.0"
.venv/bin/python -m pip install -q -c constraints.txt -e ".[test,umap]"
