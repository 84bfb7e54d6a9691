#!/usr/bin/env bash
# Install Stylize with its test tools into .venv, then run every check CI runs:
# ruff, mypy, Python 2.7 compatibility of the GIMP 2.10 side (vermin), and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh --dev

.venv/bin/ruff check .
.venv/bin/mypy daemon/stylize models
.venv/bin/vermin -t=2.7- -t=3.8- --no-tips --violations --eval-annotations \
  gimp_plugin/stylize_gimp gimp_plugin/gimp2
.venv/bin/python -m pytest "$@"
