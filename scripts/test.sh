#!/usr/bin/env bash
# Installs what the tests need (venv, package, chromium) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_chromium.sh
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
