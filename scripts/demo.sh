#!/usr/bin/env bash
# Installs astroexplore, generates the demo survey (once) and serves the app on http://localhost:5006
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/astroexplore demo "$@"
