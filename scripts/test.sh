#!/usr/bin/env bash
# Install Stylize with its test tools into .venv, then run every check CI runs: ruff, mypy,
# Python 2.7 compatibility of the GIMP 2.10 side (vermin), the import contracts
# (import-linter), the wire contract (buf lint, buf breaking against the last release),
# then pytest in two stages.
#   scripts/test.sh            everything (CI: .ci/run)
#   scripts/test.sh --fast     the checks and the fast stage only (everyday work, < 3 min)
# Further arguments go to both pytest stages (e.g. -x, -k NAME).
set -euo pipefail
cd "$(dirname "$0")/.."
fast_only=0
if [ "${1:-}" = "--fast" ]; then fast_only=1; shift; fi
scripts/install.sh --dev
npm ci --silent --no-audit --no-fund --prefix scripts/buf >/dev/null
npm ci --silent --no-audit --no-fund --prefix examples/node >/dev/null  # tests/test_regions_api.py

.venv/bin/ruff check .
.venv/bin/mypy daemon/stylize models
.venv/bin/vermin -t=2.7- -t=3.8- --no-tips --violations --eval-annotations \
  gimp_plugin/stylize_gimp gimp_plugin/gimp2
.venv/bin/lint-imports --no-cache
(cd protos && ../scripts/buf/node_modules/.bin/buf lint &&
  ../scripts/buf/node_modules/.bin/buf breaking --against released/stylize-v1-0.1.0.binpb)

echo "== fast stage"
.venv/bin/python -m pytest -m "not slow and not gimp3" "$@"
[ "$fast_only" = 1 ] && exit 0
echo "== slow stage: long runs, real GIMP 3"
.venv/bin/python -m pytest -m "slow or gimp3" "$@"
